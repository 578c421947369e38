"""From a response to records: extraction, record expansion, transformations and schema
normalisation."""
