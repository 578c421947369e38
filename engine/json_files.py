"""Reading the JSON files a command line is given (config, catalog, state), with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.errors import ConfigError


def read_json_file(path: str, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the file in errors ("config", "state")."""
    try:
        return orjson.loads(Path(path).read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read the {what} file {path}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"the {what} file {path} is not valid JSON: {error}") from None
