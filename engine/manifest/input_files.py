"""Reading the files a user hands the engine (manifest, config, catalog, state) safely.

A path may name anything: a device that never ends (``/dev/zero``), a FIFO nobody writes to, a
folder, a file of gigabytes, text in UTF-16 or bytes that are no text at all. Each becomes a
clear error naming the file before more than the size limit is read, never a hang, a memory
blow-up or a traceback.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from engine.errors import ConfigError, EngineError

MAX_INPUT_BYTES = 64 * 1024 * 1024

_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_input_bytes(
    path: str | Path,
    what: str,
    *,
    limit: int = MAX_INPUT_BYTES,
    error: type[EngineError] = ConfigError,
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``what`` names it in errors."""
    try:
        info = os.stat(path)
    except OSError as problem:
        raise error(f"cannot read the {what} file {path}: {problem.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
        raise error(f"the {what} file {path} is {kind}, not a regular file")
    if info.st_size > limit:
        raise error(_too_large(what, path, f"{info.st_size:,} bytes", limit))
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as problem:
        raise error(f"cannot read the {what} file {path}: {problem.strerror}") from None
    if len(data) > limit:  # it grew since it was measured
        raise error(_too_large(what, path, f"more than {limit:,} bytes", limit))
    return data


def decode_utf8(
    data: bytes, path: str | Path, what: str, *, error: type[EngineError] = ConfigError
) -> str:
    """``data`` as text: UTF-8 (a UTF-8 byte order mark is dropped); anything else is named."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise error(f"the {what} file {path} is {encoding} text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[: problem.start].count(b"\n") + 1
        raise error(
            f"the {what} file {path} is not UTF-8 text (line {line}, byte {problem.start}: "
            f"0x{data[problem.start]:02x}); save it as UTF-8"
        ) from None


def read_input_text(
    path: str | Path,
    what: str,
    *,
    limit: int = MAX_INPUT_BYTES,
    error: type[EngineError] = ConfigError,
) -> str:
    """A regular UTF-8 text file of at most ``limit`` bytes."""
    data = read_input_bytes(path, what, limit=limit, error=error)
    return decode_utf8(data, path, what, error=error)


def _too_large(what: str, path: str | Path, size: str, limit: int) -> str:
    return f"the {what} file {path} is {size}, more than the {limit:,} allowed"
