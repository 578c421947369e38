"""Hostile APIs and manifests, counted (issue 15): ``python -m bench.hostile``.

Two parts, both repeatable:

- ``--counts``: how many test cases each class of the issue has (``pytest --collect-only`` over
  the test files and tests that belong to it, see :data:`CLASSES`); with ``--run-tests`` the
  classes are run as well, reporting passed, failed and the slowest case (a hang would show as a
  case that never ends, so the run has a ceiling per class).
- the worst cases for memory and time (:data:`CASES`): each is a ``python -m engine read`` in a
  fresh process against ``bench/hostile_api.py``, with a sentinel API key sent as a header and a
  query parameter. Reported: how the read ended, its wall time, its peak RSS (``ru_maxrss`` of
  the process), whether any form of the sentinel reached stdout or stderr, and whether it had to
  be killed at the ceiling (a hang).

Timings and memory belong here, not in tests: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from bench.hostile_api import BOMB_INFLATED_MIB, ENOUGH_SLICES, HostileApi

ROOT = Path(__file__).resolve().parent.parent
SENTINEL = "SENTINEL-hostile/k+y=7"
CEILING_SECONDS = 180.0
PER_CLASS_CEILING = 1800.0
FAST_FAILURE = {"type": "DefaultErrorHandler", "max_retries": 0}

CLASSES: dict[str, list[str]] = {
    "secrets": [
        "tests/test_secret_masking.py",
        "tests/test_secret_redirects.py",
        "tests/test_secret_dagster.py",
        "tests/test_secret_cli_failures.py",
        "tests/test_secrets.py",
        "tests/test_api_data_literal.py",
        "tests/test_template_injection.py",
        "tests/test_parent_reuse.py::test_kept_responses_are_nowhere_on_disk_and_hold_no_secret",
        "tests/test_custom_components.py::"
        "test_a_stream_the_reference_runs_sends_no_credential_to_another_origin",
    ],
    "nothing hangs or grows": [
        "tests/test_bounds_requests.py",
        "tests/test_custom_bounds.py",
        "tests/test_bounds_pages.py::test_a_repeated_page_token_ends_the_slice_with_a_warning",
        "tests/test_bounds_pages.py::test_fresh_tokens_are_followed_to_the_end",
        "tests/test_bounds_pages.py::test_a_paginator_that_never_ends_fails_at_the_limit",
        "tests/test_bounds_pages.py::test_the_limits_leave_a_paginator_that_ends_alone",
        "tests/test_bounds_pages.py::test_limits_must_be_positive_whole_numbers",
        "tests/test_bounds_pages.py::test_the_command_line_takes_the_limits",
        "tests/test_bounds_templates.py",
        "tests/test_bounds_slices.py",
    ],
    "bad input": [
        "tests/test_bounds_inputs.py",
        "tests/test_bounds_pages.py::test_a_scalar_where_records_belong_fails_the_read",
        "tests/test_bounds_pages.py::test_records_that_are_not_objects_are_skipped_with_a_count",
        "tests/test_bounds_pages.py::test_an_error_envelope_with_status_200_is_a_warning_with_its_text",
        "tests/test_bounds_pages.py::test_an_empty_page_is_no_warning",
        "tests/test_dagster_run_log.py::test_an_error_envelope_sent_with_200_is_a_warning_in_the_run_log",
    ],
}


@dataclass
class Case:
    name: str
    path: str
    expect: str
    """A piece of the output that shows the read ended the way it should."""
    requester: dict[str, Any] = field(default_factory=dict)
    retriever: dict[str, Any] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    api_key: str = SENTINEL
    manifest_yaml: str | None = None
    """A manifest file of its own (YAML) instead of the one :func:`manifest` builds."""
    config_bytes: int = 0
    """Grow the config file to this size (sparse: the size is what a reader sees first)."""


WINDOWS = {
    "type": "DatetimeBasedCursor",
    "cursor_field": "id",
    "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
    "start_datetime": "0001-01-01T00:00:00Z",
    "step": "PT1M",
    "cursor_granularity": "PT1S",
}
TOKENS = {
    "type": "DefaultPaginator",
    "pagination_strategy": {"type": "CursorPagination", "cursor_value": "{{ response.next }}"},
    "page_token_option": {
        "type": "RequestOption",
        "inject_into": "request_parameter",
        "field_name": "token",
    },
}
HEADER_WAIT = {"type": "WaitTimeFromHeader", "header": "Retry-After"}
BILLION_STEPS = (
    "{% set s = 'x' * 1000 %}{% for a in s %}{% for b in s %}{% for c in s %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
CASES = [
    Case("body without end", "/flood", "more than the limit of 268,435,456 bytes"),
    Case("gzip bomb (Content-Encoding)", "/gzip", "more than the limit"),
    Case("deflate bomb (Content-Encoding)", "/deflate", "more than the limit"),
    Case(
        "gzip bomb (GzipDecoder)",
        "/gzipfile",
        "inflates to more than",
        retriever={"decoder": {"type": "GzipDecoder", "decoder": {"type": "JsonDecoder"}}},
    ),
    Case("dense records, 64 MiB body", f"/dense?bytes={64 << 20}", '"type":"RECORD"'),
    Case("redirects with bodies without end", "/redirect", "more than 5 redirects"),
    Case(
        "pages without end (--max-pages-per-slice 2000)",
        "/pages",
        "another page after 2,000 pages",
        retriever={"paginator": TOKENS},
        flags=["--max-pages-per-slice", "2000"],
    ),
    Case("a page token repeated", "/same-token", "page token", retriever={"paginator": TOKENS}),
    Case(
        f"year 1, one-minute windows ({ENOUGH_SLICES} read)",
        "/windows",
        "enough windows",
        stream={"incremental_sync": WINDOWS},
    ),
    Case(
        "a byte every 0.1 s (--request-deadline 5)",
        "/trickle",
        "deadline of 5 s",
        flags=["--request-deadline", "5"],
    ),
    Case(
        "Retry-After: 1e400",
        "/wait",
        "Retry-After",
        requester={"error_handler": {"max_retries": 3, "backoff_strategies": [HEADER_WAIT]}},
    ),
    Case(
        "template of a billion characters",
        "/items",
        "would write more than 1,000,000 characters",
        requester={"request_parameters": {"q": "{{ 'x'|center(10**9) }}"}},
    ),
    Case(
        "template loops of a billion steps",
        "/items",
        "loops more than 1,000,000 times",
        requester={"request_parameters": {"q": BILLION_STEPS}},
    ),
    Case("API echoes the key (400)", "/echo", "status 400"),
    Case("API echoes the key in a body no decoder reads", "/echo-html", "could not be decoded"),
    Case("key with a trailing newline", "/items", "InvalidHeader", api_key=SENTINEL + "\n"),
    Case("manifest of a billion YAML aliases", "/items", "alias", manifest_yaml=LAUGHS),
    Case("config file of 4 GiB", "/items", "config file", config_bytes=4 << 30),
]


def manifest(url: str, case: Case) -> dict[str, Any]:
    requester = {
        "type": "HttpRequester",
        "url_base": url,
        "path": case.path.split("?")[0],
        "request_parameters": {
            "key": "{{ config['api_key'] }}",
            **dict(p.split("=") for p in case.path.partition("?")[2].split("&") if p),
        },
        "authenticator": {
            "type": "ApiKeyAuthenticator",
            "api_token": "{{ config['api_key'] }}",
            "header": "X-API-Key",
        },
        "error_handler": FAST_FAILURE,
    }
    for key, value in case.requester.items():
        requester[key] = {**requester.get(key, {}), **value}
    retriever = {
        "type": "SimpleRetriever",
        "requester": requester,
        "record_selector": {
            "type": "RecordSelector",
            "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
        },
        **case.retriever,
    }
    stream = {
        "type": "DeclarativeStream",
        "name": "items",
        "retriever": retriever,
        "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
        **case.stream,
    }
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["items"]},
        "streams": [stream],
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "properties": {"api_key": {"type": "string", "airbyte_secret": True}},
            },
        },
    }


def secret_forms(secret: str) -> list[str]:
    core = secret.strip()
    forms = [core, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(core, safe="")]
    return sorted({*forms, quote_plus(core)})


def run_case(api: HostileApi, case: Case, folder: Path) -> dict[str, Any]:
    manifest_file, config_file = folder / "manifest.json", folder / "config.json"
    manifest_file.write_text(json.dumps(manifest(api.url, case)))
    if case.manifest_yaml is not None:
        manifest_file = folder / "manifest.yaml"
        manifest_file.write_text(case.manifest_yaml)
    config_file.write_text(json.dumps({"api_key": case.api_key}))
    if case.config_bytes:
        with config_file.open("ab") as config:
            config.truncate(case.config_bytes)
    command = [sys.executable, "-m", "bench.hostile", "--child", "read"]
    command += ["--manifest", str(manifest_file), "--config", str(config_file), *case.flags]
    # The output goes to files and is scanned a line at a time: a read of millions of records
    # must not cost this process (the API's) memory.
    out_file, err_file = folder / "stdout", folder / "stderr"
    started = time.monotonic()
    with out_file.open("wb") as out, err_file.open("wb") as err:
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
        try:
            child.wait(timeout=CEILING_SECONDS)
            hung = False
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            hung = True
    seconds = time.monotonic() - started
    scan = _scan([out_file, err_file], secret_forms(case.api_key), case.expect)
    return {
        "case": case.name,
        "exit": child.returncode,
        "as expected": scan["expected"],
        "ended with": scan["ending"][:200],
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(scan["rss_kib"] / 1024, 1) if scan["rss_kib"] else None,
        "secret forms found": sorted(scan["secrets"]),
        "hung": hung,
    }


def _scan(files: list[Path], forms: list[str], expect: str) -> dict[str, Any]:
    """What the read printed: its error (else its last warning, else its record count), the
    peak RSS it reported, whether the expected text and any secret form appeared."""
    found: dict[str, Any] = {"expected": False, "secrets": set(), "rss_kib": 0}
    records, errors, warnings = 0, [], []
    for file in files:
        with file.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                found["expected"] = found["expected"] or expect in line
                found["secrets"].update(form for form in forms if form in line)
                if line.startswith('{"type":"RECORD"'):
                    records += 1
                elif line.startswith('{"type":"TRACE"'):
                    errors.append(json.loads(line)["trace"]["error"]["message"])
                elif line.startswith('{"type":"LOG"') and '"level":"WARN"' in line:
                    warnings.append("warning: " + json.loads(line)["log"]["message"])
                elif match := re.match(r"PEAK_RSS_KIB (\d+)", line):
                    found["rss_kib"] = int(match.group(1))
    found["ending"] = (errors or warnings or [f"{records:,} records"])[-1]
    return found


def child_main(arguments: list[str]) -> int:
    """Run the engine's command line in this process, then report its peak RSS on stderr.

    The peak is the kernel's ``VmHWM`` of this process: ``ru_maxrss`` would also count the
    parent's memory, which a spawned process inherits as its starting high-water mark."""
    from engine.__main__ import main

    try:
        return main(arguments)
    finally:
        print(f"PEAK_RSS_KIB {peak_rss_kib()}", file=sys.stderr, flush=True)


def peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def count_cases(run: bool) -> list[dict[str, Any]]:
    rows = []
    for name, targets in CLASSES.items():
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        collected = subprocess.run(
            [*command, *targets],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
        row: dict[str, Any] = {"class": name, "cases": sum("::" in x for x in collected.split())}
        if run:
            row.update(_run_class(targets))
        rows.append(row)
    return rows


def _run_class(targets: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=1"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command + targets,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PER_CLASS_CEILING,
        )
    except subprocess.TimeoutExpired:
        return {"hung": True, "seconds": PER_CLASS_CEILING}
    summary = done.stdout.strip().splitlines()
    slowest = next((line for line in summary if re.match(r"[\d.]+s (call|setup)", line)), "")
    return {
        "result": summary[-1] if summary else done.stderr[-200:],
        "slowest": slowest,
        "seconds": round(time.monotonic() - started, 1),
        "hung": False,
    }


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return child_main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--counts", action="store_true", help="count test cases per class")
    parser.add_argument("--run-tests", action="store_true", help="with --counts: run them too")
    parser.add_argument("--cases", help="only the cases whose names contain this text")
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args()
    results: dict[str, Any] = {}
    if options.counts:
        results["classes"] = count_cases(options.run_tests)
        for row in results["classes"]:
            print(json.dumps(row))
    else:
        results["cases"] = []
        os.environ.setdefault("PYTHONPATH", str(ROOT))
        with HostileApi() as api, tempfile.TemporaryDirectory() as folder:
            for case in CASES:
                if options.cases and options.cases not in case.name:
                    continue
                row = run_case(api, case, Path(folder))
                results["cases"].append(row)
                print(json.dumps(row), flush=True)
        rows = results["cases"]
        print(
            f"{len(rows)} cases (gzip/deflate bombs inflate to {BOMB_INFLATED_MIB} MiB); "
            f"as expected: {sum(r['as expected'] for r in rows)}; "
            f"secrets found: {sum(len(r['secret forms found']) for r in rows)}; "
            f"hangs: {sum(r['hung'] for r in rows)}; "
            f"worst peak RSS: {max((r['peak_rss_mib'] or 0) for r in rows)} MiB "
            f"(this process, the API: {peak_rss_kib() / 1024:.0f} MiB)"
        )
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
