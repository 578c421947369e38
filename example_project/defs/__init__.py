"""The example's defs folder: one ``DeclarativeSourceComponent`` per sub-folder (``defs.yaml``)."""
