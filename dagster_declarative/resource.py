"""The resource that holds a source's config (secrets from ``EnvVar``) and where data and state go.

Engines, connections and HTTP sessions are opened inside the step that uses them, never when the
code location loads, because steps may run in their own processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dagster as dg
from pydantic import Field

from dagster_declarative.warehouse import Destination, destination_from_url
from engine import (
    LEASE_TTL_SECONDS,
    ConfigError,
    DeclarativeSource,
    Manifest,
    PageLimits,
    SecretMasker,
    StateStore,
    load_source,
)

_LOCAL_DIR = ".dagster_declarative"


def default_data_dir() -> Path:
    """``$DAGSTER_HOME/declarative`` when Dagster has a home, else ``.dagster_declarative/``."""
    home = os.environ.get("DAGSTER_HOME")
    base = Path(home) / "declarative" if home else Path.cwd() / _LOCAL_DIR
    base.mkdir(parents=True, exist_ok=True)
    return base


class DeclarativeSourceResource(dg.ConfigurableResource):
    """Config of one declarative source plus its state table, warehouse and read concurrency.

    Config values may be ``dg.EnvVar("NAME")``: Dagster stores only the variable's name and the
    value is read in the step.
    """

    config: dict[str, Any] = Field(
        default_factory=dict, description="The connector config the manifest's spec describes."
    )
    state_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the cursor-state table (default: SQLite)."
    )
    warehouse_url: str | None = Field(
        default=None, description="Warehouse URL (default: a DuckDB file beside the state)."
    )
    concurrency: int | None = Field(
        default=None, description="Slices read at once (default: the manifest's own setting)."
    )
    custom_component_modules: list[str] = Field(default_factory=list)
    batch_size: int = Field(
        default=100,
        description=(
            "Records handed to the warehouse writer at a time; it groups them into loads of"
            " thousands. Small batches are read fastest: records still in the CPU cache."
        ),
    )

    lease_ttl_seconds: float = Field(
        default=LEASE_TTL_SECONDS,
        description=(
            "How long a partition's lease outlives its run's last heartbeat: a run that died"
            " releases its partitions after this long. The run renews it while it works."
        ),
    )
    lease_wait_seconds: float = Field(
        default=60.0,
        description=(
            "How long a run waits for partitions another run is syncing, after writing every"
            " other partition, before it fails naming them."
        ),
    )
    read_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds to wait for each piece of a response (default 60).",
    )
    request_deadline: float | None = Field(
        default=None,
        gt=0,
        description="Seconds one request may take in all, connect to last byte (default 300).",
    )
    max_response_mib: int | None = Field(
        default=None,
        ge=1,
        description=(
            "MiB a response body may have, inflated (default 256); a larger one fails its"
            " request. A body's records can take ~30 times its size in memory."
        ),
    )
    max_pages_per_slice: int | None = Field(
        default=None,
        ge=1,
        description="Fail a slice whose paginator still asks for more after this many pages.",
    )
    max_records_per_slice: int | None = Field(
        default=None,
        ge=1,
        description="Fail a slice whose paginator still asks for more after this many records.",
    )

    def resolved_config(self) -> dict[str, Any]:
        """The config with every ``EnvVar`` replaced by its value."""
        return {key: resolve_env(value, key) for key, value in self.config.items()}

    def secret_values(self) -> list[str]:
        """What this resource knows to be secret before any manifest is read: config values
        read from environment variables, and the passwords of the state and warehouse URLs."""
        found = [str(v) for v in _environment_values(self.config)]
        for url in (self.state_url, self.warehouse_url):
            password = urlsplit(url).password if url and "://" in url else None
            if password:
                found += [password, unquote(password)]
        return found

    def open_source(
        self, manifest: Manifest, masker: SecretMasker | None = None
    ) -> DeclarativeSource:
        options: dict[str, Any] = {
            "custom_component_modules": self.custom_component_modules,
            "read_timeout": self.read_timeout,
            "deadline": self.request_deadline,
            "max_response_bytes": self.max_response_mib and self.max_response_mib << 20,
            "page_limits": PageLimits(self.max_pages_per_slice, self.max_records_per_slice),
        }
        if self.concurrency is not None:
            options["concurrency"] = self.concurrency
        return load_source(manifest, self.resolved_config(), masker=masker, **options)

    def get_state_url(self) -> str:
        return self.state_url or f"sqlite:///{default_data_dir() / 'state.db'}"

    def get_warehouse_url(self) -> str:
        return self.warehouse_url or f"duckdb:///{default_data_dir() / 'warehouse.duckdb'}"

    def open_state_store(self) -> StateStore:
        return StateStore(self.get_state_url())

    def open_destination(self) -> Destination:
        return destination_from_url(self.get_warehouse_url())


def env_name(value: Any) -> str | None:
    """The variable an ``EnvVar`` names: Dagster turns one inside a dict field into
    ``{"env": "X"}``; a resource built directly in Python keeps the ``EnvVar`` itself."""
    if isinstance(value, dg.EnvVar):
        return value.env_var_name
    if isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str):
        return value["env"]
    return None


def _environment_values(value: Any) -> list[Any]:
    """The values of the environment variables ``value`` names (those that are set)."""
    name = env_name(value)
    if name is not None:
        found = os.environ.get(name)
        return [] if found is None else [found]
    if isinstance(value, Mapping):
        return [item for sub in value.values() for item in _environment_values(sub)]
    if isinstance(value, list):
        return [item for sub in value for item in _environment_values(sub)]
    return []


def resolve_env(value: Any, where: str, why: str = "") -> Any:
    """The config value with every environment variable it names read.

    A variable that is not set is reported as the loader reports a missing key: the config key
    is named (``where``, a path for nested values), with the variable to set (and ``why``)."""
    name = env_name(value)
    if name is not None:
        resolved = os.environ.get(name)
        if resolved is None:
            raise ConfigError(
                f"config is missing the key {where!r}: it comes from the environment variable "
                f"{name}, which is not set{why}"
            )
        return resolved
    if isinstance(value, Mapping):
        return {key: resolve_env(item, f"{where}/{key}", why) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_env(item, f"{where}/{index}", why) for index, item in enumerate(value)]
    return value
