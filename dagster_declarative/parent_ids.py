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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_declarative.partitions import dimensions_of, router_slices, sanitize_key
from dagster_declarative.resource import DeclarativeSourceResource
from engine import EngineError, Manifest
from engine.errors import failure_text
from engine.secrets import SecretMasker
from engine.slicing.substream import dig

_ABSENT = dig({}, ("absent",))
"""What ``dig`` returns when a record has no value at the path."""


@dataclass(frozen=True)
class ChildKeys:
    """How a parent's records become the keys of one child's dynamic partitions."""

    partitions_name: str
    parent_key: tuple[str, ...]

    def keys(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        found = (dig(record, self.parent_key) for record in records)
        return list(dict.fromkeys(sanitize_key(v) for v in found if v is not _ABSENT))


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
    children: Sequence[tuple[Any, dg.PartitionsDefinition | None]],
) -> dict[str, list[ChildKeys]]:
    """For each parent stream name, the children whose dynamic partitions its records feed.

    ``children`` pairs each stream's engine slicer with its asset's partitions definition.
    """
    result: dict[str, list[ChildKeys]] = {}
    for slicer, partitions_def in children:
        routers = [d.slicer for d in dimensions_of(slicer) or () if d.kind == "substream"]
        for router, dynamic in zip(routers, dynamic_defs(partitions_def), strict=False):
            for config in router.parent_stream_configs:
                result.setdefault(config.stream.name, []).append(
                    ChildKeys(dynamic.name, config.parent_key)
                )
    return result


def register_keys(
    instance: dg.DagsterInstance, children: Sequence[ChildKeys], records: Sequence[Mapping]
) -> dict[str, int]:
    """Add the children's keys found in ``records``; returns how many keys each name got."""
    added: dict[str, int] = {}
    for child in children:
        keys = child.keys(records)
        if keys:
            instance.add_dynamic_partitions(child.partitions_name, keys)
        added[child.partitions_name] = added.get(child.partitions_name, 0) + len(keys)
    return added


def discover_keys(
    resource: DeclarativeSourceResource, manifest: Manifest, stream: str
) -> list[str]:
    """The keys of every parent id the stream's router yields now (reads the parent stream).

    Whatever fails, the sensor's error is masked like a run's (see ``materialize_stream``)."""
    masker = SecretMasker(resource.secret_values())
    source = resource.open_source(manifest, masker)
    try:
        source.validate_config()
        routers = [
            d.slicer
            for d in dimensions_of(source.stream(stream).slicer) or ()
            if d.kind == "substream"
        ]
        return [key for router in routers for key in router_slices(router)]
    except EngineError:
        raise
    except Exception as error:
        raise EngineError(masker.mask(failure_text(error))) from None
    finally:
        source.close()


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
    (dynamic,) = dynamic_defs(asset.partitions_def)[:1] or (None,)
    if dynamic is None or isinstance(asset.partitions_def, dg.MultiPartitionsDefinition):
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
