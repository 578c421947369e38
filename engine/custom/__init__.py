"""Custom Python components (``class_name``): where their code may come from, how they are
built (by airbyte-cdk's own factory when they are written against it), and the adapters that
present each family to the engine. airbyte-cdk is imported only when a manifest asks for such a
component (install ``dagster-declarative[airbyte]``)."""

from engine.custom.builder import CustomBuilder
from engine.custom.loading import EXTRA

__all__ = ["EXTRA", "CustomBuilder"]
