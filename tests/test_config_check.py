"""The config against the spec: jsonschema-rs may only say "valid"; jsonschema decides the rest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.errors import ConfigError, ManifestError
from engine.manifest.config_check import check_config

SPEC = {
    "type": "object",
    "required": ["api_key", "start_date"],
    "properties": {
        "api_key": {"type": "string"},
        "start_date": {"type": "string", "format": "date"},
        "page_size": {"type": "integer", "minimum": 1},
    },
}


def test_a_valid_config_needs_no_jsonschema_import() -> None:
    code = (
        "import sys\n"
        "from engine.manifest.config_check import check_config\n"
        f"check_config({SPEC!r}, {{'api_key': 'k', 'start_date': '2024-01-01'}})\n"
        "print('jsonschema' in sys.modules, 'jsonschema_rs' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"api_key": "k"}, "config is missing the required key 'start_date'"),
        (
            {"api_key": "k", "start_date": "d", "page_size": 0},
            "config key 'page_size' is invalid: it fails 'minimum' (expected 1)",
        ),
        ({"api_key": 5, "start_date": "d"}, "config key 'api_key' is invalid: it fails 'type'"),
    ],
)
def test_an_invalid_config_is_worded_by_jsonschema(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_config(SPEC, config)
    assert message in str(raised.value)


def test_formats_stay_unchecked_and_unknown_keys_count_as_present() -> None:
    check_config(SPEC, {"api_key": "k", "start_date": "not a date"})
    check_config(SPEC, {"start_date": "2024-01-01"}, not_yet_known=["api_key"])
    check_config(SPEC, {"api_key": "k", "start_date": "d", "page_size": 2**70})


def test_patterns_are_judged_by_pythons_regular_expressions() -> None:
    """``\\p{L}`` compiles in Rust's dialect only: the spec stays refused, whatever the config."""
    rust_only = {"type": "object", "properties": {"name": {"type": "string", "pattern": r"\p{L}"}}}
    with pytest.raises(ManifestError, match="not a valid JSON schema"):
        check_config(rust_only, {"name": "x"})
    digits = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^[0-9]+$"}}}
    check_config(digits, {"id": "42"})
    with pytest.raises(ConfigError, match="fails 'pattern'"):
        check_config(digits, {"id": "4x"})


def test_a_broken_reference_is_left_to_jsonschema() -> None:
    broken = {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}
    check_config(broken, {})  # jsonschema only resolves a reference for a value to check
