"""A stream and how it is read: retrievers, pagination, query properties, the reader and parent
reuse."""
