"""dagster-declarative's engine: runs declarative (Airbyte low-code) connector manifests.

Never imports Dagster. Start with :func:`load_source`.

This module is the engine's public API: what a scheduler integration needs (the read pipeline,
state and leases, secret masking, and `StreamPartitions`: a stream's slices as partitions and
back) is exported here, and ``dagster_declarative`` imports nothing else (``tests/test_seam.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import (
    ConfigError,
    EngineError,
    ManifestError,
    ReadError,
    UnsupportedComponentError,
    failure_text,
)

if TYPE_CHECKING:
    from engine.explain.components import describe_stream_markdown
    from engine.http.client import RequestStats, RetryWait
    from engine.manifest.load import Manifest, load_manifest
    from engine.records.schema_check import SchemaCheck, SchemaVerdict
    from engine.secrets import SecretMasker
    from engine.slicing.date_cadence import Cadence
    from engine.slicing.partitioning import (
        Dimension,
        ParentLink,
        PartitionError,
        Partitioning,
        Window,
        partition_key,
        safe_name,
    )
    from engine.slicing.stream_partitions import StreamPartitions
    from engine.source import DeclarativeSource, load_source
    from engine.state.leases import LEASE_TTL_SECONDS, LeaseKeeper, LeasesHeld
    from engine.state.store import StateStore, StoredState
    from engine.streams.pagination import PageLimits
    from engine.streams.reader import DONE, PAGE, SliceEvent, SliceGroups, iter_slices
    from engine.streams.stream import Stream

_LAZY = {
    "DeclarativeSource": "engine.source",
    "Manifest": "engine.manifest.load",
    "load_manifest": "engine.manifest.load",
    "load_source": "engine.source",
    "PageLimits": "engine.streams.pagination",
    # what the Dagster integration uses: reading slices, state, leases, secrets, partitions
    "Cadence": "engine.slicing.date_cadence",
    "DONE": "engine.streams.reader",
    "Dimension": "engine.slicing.partitioning",
    "PAGE": "engine.streams.reader",
    "LEASE_TTL_SECONDS": "engine.state.leases",
    "LeaseKeeper": "engine.state.leases",
    "LeasesHeld": "engine.state.leases",
    "ParentLink": "engine.slicing.partitioning",
    "PartitionError": "engine.slicing.partitioning",
    "Partitioning": "engine.slicing.partitioning",
    "RequestStats": "engine.http.client",
    "RetryWait": "engine.http.client",
    "SchemaCheck": "engine.records.schema_check",
    "SchemaVerdict": "engine.records.schema_check",
    "SecretMasker": "engine.secrets",
    "SliceEvent": "engine.streams.reader",
    "SliceGroups": "engine.streams.reader",
    "StateStore": "engine.state.store",
    "StoredState": "engine.state.store",
    "Stream": "engine.streams.stream",
    "StreamPartitions": "engine.slicing.stream_partitions",
    "Window": "engine.slicing.partitioning",
    "describe_stream_markdown": "engine.explain.components",
    "iter_slices": "engine.streams.reader",
    "partition_key": "engine.slicing.partitioning",
    "safe_name": "engine.slicing.partitioning",
}


def __getattr__(name: str) -> Any:
    """The source API, imported on first use: ``python -m engine`` imports this package first,
    and a command that needs less (``spec``) should not wait for it."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "DONE",
    "LEASE_TTL_SECONDS",
    "PAGE",
    "Cadence",
    "ConfigError",
    "DeclarativeSource",
    "Dimension",
    "EngineError",
    "LeaseKeeper",
    "LeasesHeld",
    "Manifest",
    "ManifestError",
    "PageLimits",
    "ParentLink",
    "PartitionError",
    "Partitioning",
    "ReadError",
    "RequestStats",
    "RetryWait",
    "SchemaCheck",
    "SchemaVerdict",
    "SecretMasker",
    "SliceEvent",
    "SliceGroups",
    "StateStore",
    "StoredState",
    "Stream",
    "StreamPartitions",
    "UnsupportedComponentError",
    "Window",
    "describe_stream_markdown",
    "failure_text",
    "iter_slices",
    "load_manifest",
    "load_source",
    "partition_key",
    "safe_name",
]
