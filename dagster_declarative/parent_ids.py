"""Parent ids as dynamic partitions of child streams: registered by the parent and by a sensor.

A child stream sliced by a SubstreamPartitionRouter has one dynamic partition per parent record
id. Dagster knows those ids only once someone adds them to the instance, so two paths do:

- materializing the parent asset: the parent's op sees every record it writes and adds each
  child's keys (:class:`ChildKeys`), without a second read of the API;
- the child's discovery sensor (:func:`build_parent_id_sensor`): reads the parent stream through
  the engine, as the child's router does, and adds the ids it has not seen, requesting a run for
  each new partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_declarative.resource import DeclarativeSourceResource
from engine import (
    Manifest,
    ParentLink,
    Partitioning,
    SecretMasker,
    StreamPartitions,
)


@dataclass(frozen=True)
class ChildKeys:
    """How a parent's records become the keys of one child's dynamic partitions."""

    partitions_name: str
    parent: ParentLink


def dynamic_defs(
    partitions_def: dg.PartitionsDefinition | None,
) -> list[dg.DynamicPartitionsDefinition]:
    """The named dynamic definitions of an asset's partitions (itself or a multi dimension)."""
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition) and partitions_def.name:
        return [partitions_def]
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return [
            d.partitions_def
            for d in partitions_def.partitions_defs
            if isinstance(d.partitions_def, dg.DynamicPartitionsDefinition)
            and d.partitions_def.name
        ]
    return []


def child_keys_by_parent(
    children: Sequence[tuple[Partitioning, dg.PartitionsDefinition | None]],
) -> dict[str, list[ChildKeys]]:
    """For each parent stream name, the children whose dynamic partitions its records feed.

    ``children`` pairs each stream's partitioning with its asset's partitions definition.
    """
    result: dict[str, list[ChildKeys]] = {}
    for partitioning, partitions_def in children:
        substreams = [d for d in partitioning.dimensions if d.kind == "substream"]
        for dimension, dynamic in zip(substreams, dynamic_defs(partitions_def), strict=False):
            for parent in dimension.parents:
                result.setdefault(parent.stream, []).append(ChildKeys(dynamic.name, parent))
    return result


def discover_keys(
    resource: DeclarativeSourceResource, manifest: Manifest, stream: str
) -> list[str]:
    """The keys of every parent id the stream's router yields now (reads the parent stream).

    Whatever fails, the sensor's error is masked like a run's (see ``materialize_stream``)."""
    masker = SecretMasker(resource.secret_values())
    with masker.failures_masked(), resource.open_source(manifest, masker) as source:
        source.validate_config()
        partitions = StreamPartitions(source.stream(stream))
        substreams = [d for d in partitions.describe().dimensions if d.kind == "substream"]
        return [key for d in substreams for key in partitions.keys_of(d.name)]


def build_parent_id_sensor(
    asset: dg.AssetsDefinition,
    *,
    manifest: Manifest,
    stream: str,
    resource_key: str,
    minimum_interval_seconds: int = 3600,
) -> dg.SensorDefinition:
    """A sensor that adds new parent ids to ``asset``'s dynamic partitions and requests a run of
    each new partition (stopped by default: reading the parent costs API calls)."""
    dynamic = asset.partitions_def
    if not isinstance(dynamic, dg.DynamicPartitionsDefinition) or not dynamic.name:
        raise ValueError(f"asset {asset.key.to_user_string()} is not partitioned by parent ids")
    name = f"{'__'.join(asset.key.path)}_parent_ids"

    @dg.sensor(
        name=name,
        target=[asset.key],
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Registers new parent ids as partitions and requests a run of each.",
    )
    def _sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult:
        # the resource is read from the context; a direct call also passes it as a keyword
        keys = discover_keys(getattr(context.resources, resource_key), manifest, stream)
        known = set(context.instance.get_dynamic_partitions(dynamic.name))
        new = [key for key in keys if key not in known]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in new],
            dynamic_partitions_requests=[dynamic.build_add_request(new)] if new else [],
        )

    return _sensor
