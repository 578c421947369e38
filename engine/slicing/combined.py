"""Routers made of other routers: cartesian products, groups and unions of partitions.

A list of partition routers (2022: CartesianProductStreamSlicer) reads every combination of
their partitions, the first router being the outer loop; on a key present in several partitions
the earlier router wins. GroupingPartitionRouter batches the partitions of one router into lists,
for APIs that accept several ids per request. UnionPartitionRouter reads its routers one after
the other, each value of its one partition field once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import ReadError
from engine.http.options import EMPTY, RequestOptions
from engine.slicing.base import Slice
from engine.slicing.router import EXTRA_FIELDS, PartitionRouter


@dataclass
class CartesianProductRouter(PartitionRouter):
    routers: Sequence[PartitionRouter]

    @property
    def parent_stream_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(dict.fromkeys(n for r in self.routers for n in r.parent_stream_names))

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        # The outer router is read lazily; the inner ones are needed in full for every outer
        # partition, so they are read once, when the first outer partition arrives.
        first, *others = self.routers
        inner: list[list[Slice]] | None = None
        for outer in first.iter_partitions(parent_state):
            if inner is None:
                inner = [router.partitions(parent_state) for router in others]
            for combination in itertools.product([outer], *inner):
                merged: Slice = {}
                for partition in reversed(combination):  # earlier routers overwrite later ones
                    merged.update(partition)
                yield merged

    def parent_state(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for router in reversed(self.routers):
            merged.update(router.parent_state())
        return merged

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        options = EMPTY
        for router in self.routers:
            options = options.merge(router.request_options(stream_slice))
        return options


@dataclass
class GroupingPartitionRouter(PartitionRouter):
    """Partitions of ``underlying`` in groups of ``group_size``: each key maps to the list of the
    group's values (``{"id": [1, 2, 3]}``), duplicates dropped unless ``deduplicate`` is off."""

    underlying: PartitionRouter
    group_size: int
    deduplicate: bool = True

    @property
    def parent_stream_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.underlying.parent_stream_names

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        seen: set[str] = set()
        group: list[Slice] = []
        for partition in self.underlying.iter_partitions(parent_state):
            if self.deduplicate:
                identity = json.dumps(
                    {k: v for k, v in partition.items() if k not in ("parent_slice", EXTRA_FIELDS)},
                    sort_keys=True,
                    default=str,
                )
                if identity in seen:
                    continue
                seen.add(identity)
            group.append(partition)
            if len(group) == self.group_size:
                yield _grouped(group)
                group = []
        if group:
            yield _grouped(group)

    def parent_state(self) -> dict[str, Any]:
        return self.underlying.parent_state()

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        return self.underlying.request_options(stream_slice)


def _grouped(group: list[Slice]) -> Slice:
    """As airbyte-cdk 7: each partition key maps to the list of the group's values, and so does
    each extra field (``extra_fields['AccountId'][0]``)."""
    grouped: Slice = {key: [p.get(key) for p in group] for key in group[0] if key != EXTRA_FIELDS}
    extras = [dict(p.get(EXTRA_FIELDS) or {}) for p in group]
    names = dict.fromkeys(name for extra in extras for name in extra)
    if names:
        grouped[EXTRA_FIELDS] = {name: [extra.get(name) for extra in extras] for name in names}
    return grouped


@dataclass
class UnionPartitionRouter(PartitionRouter):
    """As airbyte-cdk 7: the partitions of ``routers`` in turn, each reduced to
    ``{partition_field: value}`` (the first with a value wins, later ones are skipped); the
    child's other keys (a parent slice...) move into the slice's extra fields. Children's request
    options are not sent (the reference sends none)."""

    routers: Sequence[PartitionRouter]
    partition_field: str

    @property
    def parent_stream_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(dict.fromkeys(n for r in self.routers for n in r.parent_stream_names))

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        seen: set[Any] = set()
        name = self.partition_field
        for router in self.routers:
            for partition in router.iter_partitions(parent_state):
                if name not in partition:
                    raise ReadError(
                        f"UnionPartitionRouter expects every child router to give the partition "
                        f"field {name!r}; got {partition!r}"
                    )
                value = partition[name]
                try:
                    if value in seen:
                        continue
                    seen.add(value)
                except TypeError:
                    raise ReadError(
                        f"UnionPartitionRouter can only tell apart hashable values; got "
                        f"{value!r} for {name!r}"
                    ) from None
                carried = {k: v for k, v in partition.items() if k not in (name, EXTRA_FIELDS)}
                extra = {**dict(partition.get(EXTRA_FIELDS) or {}), **carried}
                yield {name: value, EXTRA_FIELDS: extra} if extra else {name: value}

    def parent_state(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for router in self.routers:  # a parent two children read: the last one's state
            merged.update(router.parent_state())
        return merged

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        return EMPTY
