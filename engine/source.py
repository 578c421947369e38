"""DeclarativeSource: a manifest and a config, ready to check, discover and read.

This is the engine's Python API (the Dagster integration and the command line both use it)::

    source = load_source("manifest.yaml", config)
    source.check()                      # (ok, message)
    source.discover()                   # catalog entries
    for record in source.read_records("users"): ...
    for message in source.read(catalog, state): ...   # protocol messages as dicts
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, EngineError, ManifestError
from engine.manifest.load import Manifest, StreamProblem, load_manifest
from engine.secrets import SecretMasker, secret_config_values
from engine.streams.parent_reuse import parent_responses_reused, shares_a_parent

# Loading a manifest (all that `spec` needs) imports no HTTP, template, JSON Schema or
# component code: a source imports them when it first needs them, so that the command line
# starts in a fraction of a second (see `python -m bench startup_spec startup_check`).
if TYPE_CHECKING:
    from engine.streams.pagination import PageLimits
    from engine.streams.stream import Stream

TEST_ONLY_CONFIG_KEYS = ("_limit", "_page_size")
# Slices read at once: each holds a thread and a connection; more than this is a typo.
MAX_CONCURRENCY = 256


def _declared_name(definition: Mapping[str, Any]) -> str | None:
    parameters = definition.get("$parameters") or {}
    name = definition.get("name") or parameters.get("name")
    return name if isinstance(name, str) and name else None


def _problem(name: str, path: str, error: EngineError) -> StreamProblem:
    where = getattr(error, "path", "") or path
    return StreamProblem(name, where, str(error))


class DeclarativeSource:
    def __init__(
        self,
        manifest: Manifest,
        config: Mapping[str, Any],
        *,
        custom_component_modules: Sequence[str] = (),
        masker: SecretMasker | None = None,
        concurrency: int | None = None,
        requests_per_second: float | None = None,
        timeout: tuple[float, float] | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        page_limits: PageLimits | None = None,
    ) -> None:
        from engine.factory import BuildContext
        from engine.http.client import HttpClient, RateLimiter
        from engine.http.timeouts import DEFAULT_TIMEOUT
        from engine.streams.pagination import NO_LIMITS

        self.manifest = manifest
        self.config = {k: v for k, v in dict(config).items() if k not in TEST_ONLY_CONFIG_KEYS}
        self.masker = masker if masker is not None else SecretMasker()
        self.masker.add(*secret_config_values(self._connection_specification(), self.config))
        if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigError(
                f"concurrency must be from 1 to {MAX_CONCURRENCY} slices at once, got {concurrency}"
            )
        self.concurrency = concurrency or _default_concurrency(manifest.definition, self.config)
        client_options: dict[str, Any] = {
            "masker": self.masker,
            "pool_size": max(self.concurrency, 4),
        }
        if timeout:
            client_options["timeout"] = timeout
        if read_timeout:
            client_options["timeout"] = (
                client_options.get("timeout", DEFAULT_TIMEOUT)[0],
                read_timeout,
            )
        if deadline:
            client_options["deadline"] = deadline
        if max_response_bytes:
            client_options["max_response_bytes"] = max_response_bytes
        if requests_per_second:
            client_options["rate_limiter"] = RateLimiter(requests_per_second)
        self.client = HttpClient(**client_options)
        if manifest.definition.get("api_budget"):
            from engine.http.budget import budget_from_manifest, install_budget

            budget = budget_from_manifest(manifest.definition, self.config, manifest.file)
            if budget is not None:
                install_budget(self.client.session, budget)
        self._context = BuildContext(
            config=self.config,
            client=self.client,
            masker=self.masker,
            base_dir=manifest.base_dir,
            file=manifest.file,
            custom_modules=tuple(custom_component_modules),
            page_limits=page_limits or NO_LIMITS,
        )
        self._built: tuple[dict[str, Stream], dict[str, tuple[StreamProblem, Exception]]] | None
        self._built = None
        self._origins: dict[str, str] = {}
        self._generated: dict[str, list[str]] = {}  # dynamic stream name -> its streams

    # -- config and building -------------------------------------------------------------

    def _connection_specification(self) -> dict[str, Any]:
        return dict(self.manifest.spec.get("connection_specification") or {})

    def validate_config(self, *, not_yet_known: Collection[str] = ()) -> None:
        """Check the config against the spec; the error names the key, never its value.

        Keys in ``not_yet_known`` (values read from the environment only at run time) are
        taken as present and valid; the run checks them with the same messages.
        """
        schema = self._connection_specification()
        if not schema:
            return
        from engine.manifest.config_check import check_config

        check_config(schema, self.config, not_yet_known=not_yet_known, file=self.manifest.file)

    @property
    def streams(self) -> dict[str, Stream]:
        """Every stream by name: the manifest's, then those its dynamic streams resolve to
        (resolving may send the requests of an HttpComponentsResolver). The first stream that
        cannot be built raises its error; :meth:`buildable_streams` leaves it out instead."""
        built, failed = self._build_streams()
        if failed:
            raise next(iter(failed.values()))[1]
        return built

    def buildable_streams(self) -> tuple[dict[str, Stream], list[StreamProblem]]:
        """The streams that build (with their schemas), and what is wrong with each other one,
        so one broken stream never stops the others from loading."""
        built, failed = self._build_streams()
        problems = [problem for problem, _ in failed.values()]
        usable = {}
        for name, stream in built.items():
            try:
                _ = stream.json_schema  # a schema file that is missing fails here, not in a run
            except EngineError as error:
                where = f"{self._origins.get(name, name)}.schema_loader"
                problems.append(_problem(name, where, error))
                continue
            usable[name] = stream
        return usable, problems

    def _build_streams(
        self,
    ) -> tuple[dict[str, Stream], dict[str, tuple[StreamProblem, Exception]]]:
        if self._built is None:
            built: dict[str, Stream] = {}
            failed: dict[str, tuple[StreamProblem, Exception]] = {}
            origins: dict[str, str] = {}
            for index, definition in enumerate(self.manifest.stream_definitions):
                path = f"streams[{index}]"
                name = _declared_name(definition) or path
                try:
                    stream = self._context.build(definition, path)
                    self._add_stream(built, origins, stream, path, f"{path}.name")
                except EngineError as error:
                    failed[name] = (_problem(name, path, error), error)
            for index, definition in enumerate(self.manifest.dynamic_stream_definitions):
                path = f"dynamic_streams[{index}]"
                name = _declared_name(definition) or path
                try:
                    self._build_dynamic(built, origins, definition, index)
                except EngineError as error:
                    failed[name] = (_problem(name, path, error), error)
            self._built, self._origins = (built, failed), origins
        return self._built

    def _build_dynamic(
        self, built: dict[str, Stream], origins: dict[str, str], definition: dict, index: int
    ) -> None:
        from engine.factory.dynamic import build_dynamic_stream

        dynamic = build_dynamic_stream(self._context, definition, index)
        generated = self._generated[dynamic.name] = []
        origin = f"dynamic stream {dynamic.name!r} ({dynamic.path})"
        for resolved in dynamic.resolve():
            stream = resolved.build(self._context)
            self._add_stream(built, origins, stream, origin, f"{resolved.path}.name")
            generated.append(stream.name)

    def _add_stream(
        self,
        built: dict[str, Stream],
        origins: dict[str, str],
        stream: Stream,
        origin: str,
        path: str,
    ) -> None:
        if stream.name in built:
            raise ManifestError(
                f"two streams are named {stream.name!r}: one from {origins[stream.name]}, "
                f"one from {origin}",
                path=path,
                file=self.manifest.file,
            )
        built[stream.name] = stream
        origins[stream.name] = origin

    def stream(self, name: str) -> Stream:
        """One stream; a broken other stream does not matter, a broken one raises its error."""
        built, failed = self._build_streams()
        if name in built:
            return built[name]
        if name in failed:
            raise failed[name][1]
        raise ConfigError(
            f"the manifest has no stream {name!r}; it has {', '.join(built) or 'none'}"
        )

    @property
    def warnings(self) -> list[str]:
        return [*self.manifest.warnings, *self._context.warnings]

    # -- commands --------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        return dict(self.manifest.spec)

    def check(self) -> tuple[bool, str | None]:
        """Read one record of each stream the manifest's check names."""
        try:
            self.validate_config()
            if not self.streams:
                return False, "the manifest defines no streams"
            names, problem = self._streams_to_check()
            if problem:
                return False, problem
            left_out = {problem.stream: problem.reason for problem in self.manifest.left_out}
            with parent_responses_reused(self.client):
                for name in names:
                    if name in left_out:  # loaded around an unsupported component: say which
                        return False, self.masker.mask(f"Unable to connect: {left_out[name]}")
                    stream = self.stream(name)
                    first = stream.first_slice()
                    if first is None:
                        return False, f"stream {name!r} has no slices to read"
                    for _ in stream.read_slice(first):
                        break
        except EngineError as error:
            return False, self.masker.mask(f"Unable to connect: {error}")
        return True, None

    def _streams_to_check(self) -> tuple[list[str], str | None]:
        """The names a check reads (or a reason it fails without reading).

        ``CheckStream`` names streams, and per dynamic stream how many of its generated streams
        to read (all when ``stream_count`` is unset). ``CheckDynamicStream`` reads the first
        ``stream_count`` streams, manifest streams first, or none when
        ``use_check_availability`` is false.
        """
        check = self.manifest.definition.get("check") or {}
        if check.get("type") == "CheckDynamicStream":
            if check.get("use_check_availability") is False:
                return [], None
            return list(self.streams)[: check["stream_count"]], None
        names = list(check.get("stream_names") or [])
        for index, item in enumerate(check.get("dynamic_streams_check_configs") or []):
            name = item["dynamic_stream_name"]
            if name not in self._generated:
                known = ", ".join(map(repr, self._generated)) or "none"
                return [], (
                    f"check.dynamic_streams_check_configs[{index}]: the manifest has no dynamic "
                    f"stream {name!r} (it has {known})"
                )
            generated = self._generated[name]
            count = item.get("stream_count")
            names.extend(generated if count is None else generated[:count])
        return names, None

    def discover(self) -> list[dict[str, Any]]:
        self.validate_config()
        return [stream.catalog_entry() for stream in self.streams.values()]

    def read_records(
        self, stream_name: str, state: Mapping[str, Any] | None = None
    ) -> Iterator[dict]:
        self.validate_config()
        return self.stream(stream_name).read_records(state)

    def read(
        self,
        catalog: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        *,
        records_as_lines: bool = False,
    ) -> Iterator[dict[str, Any] | bytes]:
        """Protocol messages of a read: RECORDs, STATE after each slice, LOG lines; with
        ``records_as_lines``, RECORDs as JSON lines (``bytes``, see `read_messages`)."""
        self.validate_config()
        from engine.streams.messages import read_messages

        built, _ = self._build_streams()
        names = list(built)
        if catalog:
            names = [(e.get("stream") or {}).get("name") for e in catalog.get("streams") or []]
        reuse = shares_a_parent(built, [name for name in names if name in built])
        with parent_responses_reused(self.client) if reuse else contextlib.nullcontext():
            yield from read_messages(
                self.streams,
                catalog,
                state or {},
                concurrency=self.concurrency,
                masker=self.masker,
                records_as_lines=records_as_lines,
            )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DeclarativeSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def load_source(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    config: Mapping[str, Any],
    **options: Any,
) -> DeclarativeSource:
    """Load a manifest and bind it to a config (see DeclarativeSource for the options;
    ``strict=True`` refuses keys the format does not define, see :func:`load_manifest`)."""
    if isinstance(manifest, Manifest):
        loaded = manifest
    else:
        loaded = load_manifest(manifest, strict=options.pop("strict", False))
    return DeclarativeSource(loaded, config, **options)


def _default_concurrency(definition: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    level = definition.get("concurrency_level") or {}
    value = level.get("default_concurrency", 1)
    if isinstance(value, str):
        from engine.templates.interpolation import InterpolatedString

        value = InterpolatedString(value).eval(config)
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 1
    maximum = level.get("max_concurrency")
    count = max(1, min(count, int(maximum)) if maximum else count)
    if count > MAX_CONCURRENCY:
        raise ManifestError(
            f"concurrency_level asks for {count} slices at once; at most {MAX_CONCURRENCY} "
            "are read at once",
            path="concurrency_level.default_concurrency",
        )
    return count
