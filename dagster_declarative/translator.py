"""How one stream becomes one Dagster asset: its description and the overridable translator.

Users subclass :class:`DeclarativeTranslator` to change keys, groups, metadata, partitioning or the
backfill policy of a stream; every method receives the stream's resolved :class:`StreamDescription`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet

from dagster_declarative.partitions import partitions_def_for
from dagster_declarative.warehouse.columns import plan_columns
from dagster_declarative.warehouse.spec import TableSpec
from engine import Partitioning, safe_name


def sanitize_name(name: str) -> str:
    """A name valid as an asset key part, op name and group (ASCII letters, digits, ``_``)."""
    return safe_name(name, empty="stream").lower()


@dataclass(frozen=True)
class StreamDescription:
    """What the translator knows about one stream, resolved from the manifest."""

    source_name: str
    stream_name: str
    primary_key: tuple[tuple[str, ...], ...]
    cursor_field: tuple[str, ...]
    json_schema: Mapping[str, Any]
    parents: tuple[str, ...]
    manifest_hash: str
    destination_kind: str = "duckdb"
    partitioning: Partitioning = field(default_factory=Partitioning, compare=False, repr=False)
    """How the stream's slices split into partitions (the engine's description)."""
    description: str = ""
    """What the stream is and how it is read, in Markdown (``engine.describe_stream_markdown``)."""

    @property
    def slicer_kind(self) -> str:
        """The engine's ``Partitioning.kind``: ``none``, ``datetime``, ``list``, ..."""
        return self.partitioning.kind

    @property
    def judges_records(self) -> bool:
        """Whether its records can break its schema (one that declares no properties: no)."""
        return bool(self.json_schema.get("properties"))

    @property
    def table_name(self) -> str:
        return f"{sanitize_name(self.source_name)}.{sanitize_name(self.stream_name)}"

    @property
    def flat_primary_key(self) -> list[str]:
        """Top-level primary key columns (nested key paths are joined with ``.``)."""
        return [".".join(path) for path in self.primary_key]


class DeclarativeTranslator:
    """Default mapping of a stream to an asset; override any method to customise one aspect."""

    def get_asset_key(self, data: StreamDescription) -> dg.AssetKey:
        return dg.AssetKey([sanitize_name(data.source_name), sanitize_name(data.stream_name)])

    def get_asset_spec(self, data: StreamDescription) -> dg.AssetSpec:
        # a child partition (a parent id, or a window of the child) reads from the whole parent
        parent_deps = [
            dg.AssetDep(
                self.get_asset_key(_parent_description(data, parent)),
                partition_mapping=dg.AllPartitionMapping(),
            )
            for parent in data.parents
        ]
        metadata: dict[str, Any] = {
            "declarative/stream": data.stream_name,
            "declarative/primary_key": dg.MetadataValue.json(data.flat_primary_key),
            "declarative/cursor_field": ".".join(data.cursor_field),
            "declarative/slicer": data.slicer_kind,
            **TableMetadataSet(
                table_name=data.table_name, column_schema=column_schema(data.json_schema)
            ),
        }
        return dg.AssetSpec(
            key=self.get_asset_key(data),
            deps=parent_deps,
            description=data.description
            or f"Stream `{data.stream_name}` of the declarative source `{data.source_name}`.",
            metadata=metadata,
            group_name=sanitize_name(data.source_name),
            kinds={"declarative", data.destination_kind},
            code_version=data.manifest_hash,
        )

    def get_partitions_def(self, data: StreamDescription) -> dg.PartitionsDefinition | None:
        return partitions_def_for(data.partitioning, data.source_name, data.stream_name)

    def get_backfill_policy(self, data: StreamDescription) -> dg.BackfillPolicy | None:
        """Single-run backfills for date windows (time windows, or windows listed by their
        start for steps no cron ticks): a year of days costs one run, not 365."""
        partitions_def = self.get_partitions_def(data)
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition) or (
            data.slicer_kind == "datetime"
            and isinstance(partitions_def, dg.StaticPartitionsDefinition)
        ):
            return dg.BackfillPolicy.single_run()
        return None


def _parent_description(data: StreamDescription, parent: str) -> StreamDescription:
    return StreamDescription(
        source_name=data.source_name,
        stream_name=parent,
        primary_key=(),
        cursor_field=(),
        json_schema={},
        parents=(),
        manifest_hash=data.manifest_hash,
        destination_kind=data.destination_kind,
    )


def column_schema(
    json_schema: Mapping[str, Any], types: Sequence[tuple[str, str]] | None = None
) -> dg.TableSchema:
    """The table Dagster shows: every column the warehouse table has, the ``_dd_`` bookkeeping
    columns included. ``types`` are the database's own (name, type) pairs once a write has
    described the table; before that, the column types the writer plans from the schema."""
    if types is None:
        planned, _ = plan_columns(TableSpec("", "", json_schema))
        types = [(column.name, column.type.value) for column in planned]
    described = {
        name: prop.get("description")
        for name, prop in (json_schema.get("properties") or {}).items()
        if isinstance(prop, Mapping) and isinstance(prop.get("description"), str)
    }
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=kind, description=described.get(name))
            for name, kind in types
        ]
    )
