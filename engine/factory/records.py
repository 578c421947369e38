"""Builders for record selection, filtering, transformations and schema loaders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.factory.context import BuildContext, builds
from engine.manifest.schema_files import SchemaFileError, load_schema_file
from engine.records import schema_normalization, transform
from engine.records.extract import DpathExtractor, RecordFilter, RecordSelector
from engine.records.record_expander import ON_NO_RECORDS, RecordExpander


@builds("RecordSelector")
def record_selector(
    ctx: BuildContext,
    d: dict,
    path: str,
    transformations: list | None = None,
    schema: Callable[[], dict] | None = None,
) -> RecordSelector:
    normalize = None
    kind = d.get("schema_normalization")
    if kind in ("Default", "DefaultTypeTransformer") and schema:
        normalize = schema_normalization.normalizer(schema)
    elif isinstance(kind, dict) and kind.get("class_name") and schema:
        custom = ctx.custom(
            {"type": "CustomSchemaNormalization", **kind}, f"{path}.schema_normalization"
        )
        normalize = custom.normalizer(schema)
    return RecordSelector(
        extractor=ctx.build(d["extractor"], f"{path}.extractor"),
        record_filter=ctx.optional(d.get("record_filter"), f"{path}.record_filter"),
        transformations=transformations or [],
        normalize=normalize,
        transform_before_filtering=bool(d.get("transform_before_filtering")),
    )


@builds("DpathExtractor")
def dpath_extractor(ctx: BuildContext, d: dict, path: str) -> DpathExtractor:
    expander = d.get("record_expander")
    return DpathExtractor(
        _field_path(ctx, d, path),
        _record_expander(ctx, expander, f"{path}.record_expander") if expander else None,
    )


def _record_expander(ctx: BuildContext, d: dict, path: str) -> RecordExpander:
    on_no_records = str(d.get("on_no_records") or "skip")
    if on_no_records not in ON_NO_RECORDS:
        raise ctx.error(
            f"unknown on_no_records {on_no_records!r}",
            d,
            "on_no_records",
            path,
            expected=" or ".join(ON_NO_RECORDS),
        )
    fields = d["expand_records_from_field"]
    for index, segment in enumerate(fields if isinstance(fields, list) else [fields]):
        if any(mark in str(segment) for mark in "?[]") or "**" in str(segment):
            raise ctx.error(
                "only * may match in expand_records_from_field",
                d,
                "expand_records_from_field",
                f"{path}[{index}]",
            )
    return RecordExpander(
        path=_field_path(ctx, {**d, "field_path": fields}, path),
        remain_original_record=bool(d.get("remain_original_record")),
        emit_parent=on_no_records == "emit_parent",
    )


def _field_path(ctx: BuildContext, d: dict, path: str) -> tuple[str, ...]:
    """``field_path`` with each segment's template evaluated (it may read config, parameters)."""
    field_path = d.get("field_path") or []
    if isinstance(field_path, str):
        field_path = [field_path]
    return tuple(
        str(_constant(ctx, d, segment, f"{path}.field_path[{index}]"))
        for index, segment in enumerate(field_path)
    )


def _constant(ctx: BuildContext, d: dict, value: Any, path: str) -> Any:
    """``value``, found inside component ``d``, evaluated with the component's parameters."""
    return ctx.constant({"value": value, "$parameters": d.get("$parameters")}, "value", path)


@builds("RecordFilter")
def record_filter(ctx: BuildContext, d: dict, path: str) -> RecordFilter:
    condition = ctx.boolean(d, "condition", path)
    if condition is None:
        raise ctx.error(
            "RecordFilter needs a condition",
            d,
            "condition",
            path,
            expected="a template such as \"{{ record['status'] == 'active' }}\"",
        )
    return RecordFilter(ctx.config, condition)


# -- transformations -----------------------------------------------------------------------------


@builds("AddFields")
def add_fields(ctx: BuildContext, d: dict, path: str) -> transform.AddFields:
    fields = []
    for index, field in enumerate(d["fields"]):
        where = f"{path}.fields[{index}]"
        if not field.get("path"):
            raise ctx.error("path must be a non-empty list", field, "path", where)
        value = ctx.string(field, "value", where)
        assert value is not None
        fields.append(
            transform.AddedField(
                tuple(str(p) for p in field["path"]), value, field.get("value_type")
            )
        )
    return transform.AddFields(ctx.config, fields, ctx.boolean(d, "condition", path))


@builds("RemoveFields")
def remove_fields(ctx: BuildContext, d: dict, path: str) -> transform.RemoveFields:
    pointers = [
        tuple(str(p) for p in pointer) if isinstance(pointer, list) else (str(pointer),)
        for pointer in d["field_pointers"]
    ]
    return transform.RemoveFields(ctx.config, pointers, ctx.boolean(d, "condition", path))


@builds("KeysToLower")
def keys_to_lower(ctx: BuildContext, d: dict, path: str) -> Any:
    return transform.keys_to_lower


@builds("KeysToSnakeCase")
def keys_to_snake_case(ctx: BuildContext, d: dict, path: str) -> Any:
    return transform.keys_to_snake_case


@builds("KeysReplace")
def keys_replace(ctx: BuildContext, d: dict, path: str) -> transform.KeysReplace:
    return transform.KeysReplace(
        str(ctx.constant(d, "old", path)), str(ctx.constant(d, "new", path))
    )


@builds("FlattenFields")
def flatten_fields(ctx: BuildContext, d: dict, path: str) -> transform.FlattenFields:
    return transform.FlattenFields(d.get("flatten_lists", True) is not False)


@builds("DpathFlattenFields")
def dpath_flatten_fields(ctx: BuildContext, d: dict, path: str) -> transform.DpathFlattenFields:
    keys = d.get("key_transformation") or {}
    if not isinstance(keys, dict):
        raise ctx.error(
            "key_transformation must be a mapping",
            d,
            "key_transformation",
            path,
            expected="{type: KeyTransformation, prefix: ..., suffix: ...}",
        )
    field_path = _field_path(ctx, d, path)
    if not field_path:
        raise ctx.error(
            "field_path is empty",
            d,
            "field_path",
            path,
            expected="the path of an object to flatten",
        )
    prefix, suffix = (
        _constant(ctx, d, keys.get(name), f"{path}.key_transformation.{name}") or ""
        for name in ("prefix", "suffix")
    )
    return transform.DpathFlattenFields(
        field_path,
        bool(d.get("delete_origin_value")),
        bool(d.get("replace_record")),
        str(prefix),
        str(suffix),
    )


# -- schemas -------------------------------------------------------------------------------------


@builds("InlineSchemaLoader")
def inline_schema(ctx: BuildContext, d: dict, path: str) -> Callable[[], dict]:
    schema = d.get("schema") or {}
    return lambda: schema


@builds("JsonFileSchemaLoader")
def json_file_schema(ctx: BuildContext, d: dict, path: str) -> Callable[[], dict]:
    default = "./{{ parameters['name'] }}.json"
    template = ctx.string(d, "file_path", path)
    if template is not None and "config" in template.variables:
        raise ctx.error(
            "file_path may not read the config: schema files come from the manifest's folder",
            d,
            "file_path",
            path,
            expected="a path relative to the manifest, such as ./schemas/users.json",
        )
    file_path = str(
        ctx.constant(d, "file_path", path)
        or ctx.constant({**d, "file_path": default}, "file_path", path)
    )
    if Path(file_path).is_absolute() or ".." in Path(file_path).parts:
        raise ctx.error(
            f"file_path {file_path!r} leaves the manifest's folder",
            d,
            "file_path",
            path,
            expected="a path inside the manifest's folder, such as ./schemas/users.json",
        )
    name = str((d.get("$parameters") or {}).get("name", ""))
    candidates = _inside(ctx.base_dir, _schema_candidates(ctx.base_dir, file_path, name))
    explicit = bool(d.get("file_path"))

    def load() -> dict:
        for candidate in candidates:
            if candidate.is_file():
                try:
                    return load_schema_file(candidate)
                except SchemaFileError as error:
                    raise ctx.error(
                        error.problem, d, "file_path", path, expected=error.expected
                    ) from None
        if explicit:
            ctx.warnings.append(
                f"{path}: schema file {file_path!r} not found; using an empty schema"
            )
        return {}

    return load


def _inside(base_dir: Path, candidates: list[Path]) -> list[Path]:
    """The candidates that stay in the manifest's folder tree once links are followed (a
    stream name with ``../`` or a link pointing elsewhere reads nothing outside it)."""
    root = base_dir.resolve()
    return [c for c in candidates if c.resolve().is_relative_to(root)]


def _schema_candidates(base_dir: Path, file_path: str, name: str) -> list[Path]:
    """Where a packaged connector's schema file lies next to a manifest we were handed.

    Published manifests name files inside their Python package (``./source_x/schemas/a.json``);
    beside a manifest file we look for the path itself, the path without that package folder,
    ``schemas/<name>.json``, and ``source_*/schemas/<name>.json`` (the package folder of a
    connector's distribution, where the reference runner looks by default).
    """
    parts = [p for p in Path(file_path).parts if p not in (".", "")]
    candidates = [base_dir.joinpath(*parts)] if parts else []
    if len(parts) > 1:
        candidates.append(base_dir.joinpath(*parts[1:]))
    if name:
        candidates.append(base_dir / "schemas" / f"{name}.json")
        packages = sorted(p for p in base_dir.glob("source_*") if p.is_dir())
        candidates.extend(package / "schemas" / f"{name}.json" for package in packages)
    return candidates
