"""Custom classes written for this engine (not against airbyte-cdk): built from their YAML keys.

Such a class implements this engine's interface for its family directly (an ``Extractor``, a
``PartitionRouter``...). It receives the manifest keys that match its constructor's parameters
(nested components built by this engine), plus ``config`` and ``parameters`` when it takes them.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.custom.host import BuildHost


def build_native(ctx: BuildHost, cls: type, definition: dict, path: str) -> Any:
    class_name = str(definition["class_name"])
    parameters = dict(definition.get("$parameters") or {})
    accepted = _accepted_arguments(cls)
    kwargs: dict[str, Any] = {}
    for key, value in definition.items():
        if key in ("type", "class_name", "$parameters") or key not in accepted:
            continue
        if isinstance(value, dict) and "type" in value:
            value = ctx.build(value, f"{path}.{key}")
        kwargs[key] = value
    if "config" in accepted:
        kwargs["config"] = ctx.config
    for name in ("parameters", "options"):
        if name in accepted:
            kwargs[name] = parameters
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ctx.error(f"cannot create {class_name}: {error}", definition, None, path) from None


def _accepted_arguments(cls: type) -> set[str]:
    if dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls)}
        init_vars = {
            k
            for k, v in getattr(cls, "__annotations__", {}).items()
            if isinstance(v, dataclasses.InitVar) or "InitVar" in str(v)
        }
        return names | init_vars
    return set(inspect.signature(cls).parameters)
