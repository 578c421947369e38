"""The macros (Jinja globals) and filters manifest templates may call, as airbyte-cdk names them.

Each is a plain function; :mod:`engine.templates.sandbox` installs them (``GLOBALS``,
``FILTERS``) in the sandbox every template renders in.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import uuid
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from engine import datetimes, durations
from engine.templates import limits


def _to_datetime(value: str | datetime.date) -> datetime.datetime:
    """Datetimes pass through (naive means UTC), dates become UTC midnight, text is parsed."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(), datetime.timezone.utc)
    return datetimes.parse_lenient_datetime(value)


def _now_local() -> datetime.datetime:
    """The process's local wall-clock time, naive (2022 macro)."""
    return datetime.datetime.now()


def _today_utc() -> datetime.date:
    return datetimes.now_utc().date()


def _today_with_timezone(timezone: str) -> datetime.date:
    """Today's date in an IANA time zone such as ``"Europe/Paris"``."""
    return datetime.datetime.now(ZoneInfo(timezone)).date()


def _timestamp(value: int | float | str | datetime.date) -> int | float:
    """Numbers truncate to int seconds; datetimes and date text give float epoch seconds (UTC)."""
    if isinstance(value, (int, float)):
        return int(value)
    return _to_datetime(value).timestamp()


def _str_to_datetime(value: str) -> datetime.datetime:
    """Parse date/datetime text (naive means UTC) and express it in UTC."""
    return _to_datetime(value).astimezone(datetime.timezone.utc)


def _day_delta(num_days: int, format: str = "%Y-%m-%dT%H:%M:%S.%f%z") -> str:
    """Now plus ``num_days`` days, formatted."""
    moved = datetimes.now_utc() + datetime.timedelta(days=num_days)
    return datetimes.format_datetime(moved, format)


def _duration(text: str) -> datetime.timedelta | durations.Duration:
    """A duration usable in datetime arithmetic: a timedelta, or a calendar-aware Duration when
    it counts months or years."""
    parsed = durations.parse_duration(text)
    return parsed.delta if parsed.months == 0 else parsed


def _format_datetime(
    value: datetime.date | str | int | float, format: str, input_format: str | None = None
) -> str:
    """Reformat a datetime, date text (``input_format`` or ISO/dateutil) or an epoch number."""
    if isinstance(value, datetime.date):
        parsed = _to_datetime(value)
    elif isinstance(value, (int, float)) or input_format:
        parsed = datetimes.parse_datetime(value, input_format or "%s")
    else:
        parsed = _str_to_datetime(value)
    return datetimes.format_datetime(parsed, format)


def _sanitize_url(value: str) -> str:
    return quote_plus(value)


def _camel_case_to_snake_case(value: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()


def _generate_uuid() -> str:
    return str(uuid.uuid4())


# --- filters ------------------------------------------------------------------------------------

_HASH_TYPES = frozenset(hashlib.algorithms_guaranteed) - {"shake_128", "shake_256"}


def _hash_filter(value: Any, hash_type: str = "md5", salt: str | None = None) -> str:
    """Hex digest of ``str(value)`` (then ``salt``) with a hashlib algorithm."""
    if hash_type not in _HASH_TYPES:
        raise ValueError(
            f"hash: unsupported hash type {hash_type!r}; use one of {sorted(_HASH_TYPES)}"
        )
    digest = hashlib.new(hash_type, str(value).encode("utf-8"))
    if salt:
        digest.update(str(salt).encode("utf-8"))
    return digest.hexdigest()


def _base64encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode()


def _base64decode(value: str) -> str:
    return base64.b64decode(value.encode("utf-8")).decode()


def _base64binascii_decode(value: str) -> str:
    """Despite the name this *encodes* ASCII text as standard base64, as the format defines."""
    return base64.standard_b64encode(value.encode("ascii")).decode("ascii")


def _string_filter(value: Any) -> str:
    """Keep JSON text a string through literal coercion (wrapped in a triple-quoted literal)."""
    if isinstance(value, str):
        return value
    return '"""' + json.dumps(value) + '"""'


def _regex_search(value: str, regex: str) -> str:
    """The first capture group of the first match, or ``""`` (time-bounded: see
    `template_limits.py`)."""
    match = limits.search(regex, value)
    return match.group(1) if match and match.groups() else ""


def _regex_replace(value: str, regex: str, replacement: str) -> str:
    return limits.sub(regex, replacement, value)


def _hmac_filter(value: Any, key: str, hash_type: str = "sha256") -> str:
    if hash_type != "sha256":
        raise ValueError(f"hmac: only 'sha256' is supported, got {hash_type!r}")
    return hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


GLOBALS: dict[str, Any] = dict(
    now_utc=datetimes.now_utc,
    now_local=_now_local,
    today_utc=_today_utc,
    today_with_timezone=_today_with_timezone,
    timestamp=_timestamp,
    str_to_datetime=_str_to_datetime,
    max=max,
    min=min,
    day_delta=_day_delta,
    duration=_duration,
    format_datetime=_format_datetime,
    sanitize_url=_sanitize_url,
    camel_case_to_snake_case=_camel_case_to_snake_case,
    generate_uuid=_generate_uuid,
)
FILTERS: dict[str, Any] = dict(
    hash=_hash_filter,
    base64encode=_base64encode,
    base64decode=_base64decode,
    base64binascii_decode=_base64binascii_decode,
    string=_string_filter,
    regex_search=_regex_search,
    regex_replace=_regex_replace,
    hmac=_hmac_filter,
)
