"""The ``DeclarativeSourceComponent``: a manifest file and a config in ``defs.yaml``."""
