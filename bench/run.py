"""Run the benchmark: ``python -m bench`` (every scenario) or ``python -m bench page slices``.

``python bench/run.py all`` does the same. For each scenario a fresh local API process is started
on 127.0.0.1; then the project side and the limit side run alternately (the order swaps every
round), each in a new worker process, ``--repeat`` times. The table shows medians of wall time,
records/s and CPU time, the peak RSS, and the ratio that the scenario's target judges. The exit
status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: make the repository importable, as ``-m`` does
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scenarios import BY_NAME, DAGSTER_POSTGRES, SCENARIOS, Scenario

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("project", "limit")
_MEASURED = ("records", "seconds", "cpu", "peak_rss_mb", "rss_before_mb")
"""What every side's result holds; anything else is a side's own number, reported as a median."""
WORKER_TIMEOUT = 300


_SUMMARY_KEYS = ("seconds", "records_per_second", "cpu", "peak_rss_mb", "runs")


class BenchError(RuntimeError):
    """A side failed or read the wrong number of records: its numbers would mean nothing."""


def _default_dagster_postgres() -> str | None:
    """TEST_POSTGRES_URL's server with a database of the bench's own (created when missing)."""
    test_url = os.environ.get("TEST_POSTGRES_URL")
    if not test_url:
        return None
    import sqlalchemy as sa

    url = sa.make_url(test_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = 'bench_dagster'")
            ).first()
            if not exists:
                connection.execute(sa.text("CREATE DATABASE bench_dagster"))
    except sa.exc.SQLAlchemyError as error:
        print(f"dagster_pg: no database for Dagster's storage at {url}: {error}", file=sys.stderr)
        return None
    finally:
        engine.dispose()
    plain = url.set(drivername="postgresql+psycopg2", database="bench_dagster")
    return plain.render_as_string(hide_password=False)


def start_api(records: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--records", str(records)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if line[:1] != ["READY"]:
        process.kill()
        raise BenchError("the benchmark API did not start (see its error above)")
    return process, f"http://127.0.0.1:{line[1]}"


def run_side(scenario: Scenario, side: str, url: str) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.worker", scenario.name, side, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if completed.returncode != 0:
        raise BenchError(f"{scenario.name}/{side} failed:\n{completed.stderr.strip()[-2000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if result["records"] != scenario.expected(side):
        raise BenchError(
            f"{scenario.name}/{side} read {result['records']:,} records, "
            f"expected {scenario.expected(side):,}"
        )
    return result


def measure(scenario: Scenario, repeat: int) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    process, url = start_api(scenario.server_records)
    try:
        for round_number in range(scenario.rounds or repeat):
            for side in SIDES if round_number % 2 == 0 else SIDES[::-1]:
                runs[side].append(run_side(scenario, side, url))
    finally:
        process.kill()
        process.wait()
    return runs


def summarise(scenario: Scenario, runs: dict[str, list[dict[str, float]]]) -> dict:
    sides = {}
    for side, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        sides[side] = {
            "seconds": seconds,
            "records_per_second": scenario.expected(side) / seconds,
            "cpu": statistics.median(r["cpu"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "runs": [round(r["seconds"], 3) for r in results],
            **{
                key: statistics.median(r[key] for r in results)
                for key in results[0]
                if key not in _MEASURED
            },
        }
    project, limit = sides["project"], sides["limit"]
    kind, bound = scenario.target.kind, scenario.target.bound
    ratio = {
        "speed": project["records_per_second"] / limit["records_per_second"],
        "time": project["seconds"] / limit["seconds"],
        "seconds": project["seconds"] / limit["seconds"],
        "rss": project["peak_rss_mb"],
        "rss_growth": project["peak_rss_mb"] / limit["peak_rss_mb"],
    }[kind]
    if bound is None:
        met = True
    elif kind == "seconds":
        met = project["seconds"] < bound
    else:
        met = (
            ratio >= bound
            if kind == "speed"
            else ratio <= bound
            if kind != "rss"
            else ratio < bound
        )
    return {
        "title": scenario.title,
        "target": scenario.target.describe(),
        "ratio": ratio,
        "ratio_range": _round_ratios(kind, runs),
        "cpu_ratio": project["cpu"] / limit["cpu"],
        "met": met,
        "sides": sides,
    }


def _round_ratios(kind: str, runs: dict[str, list[dict[str, float]]]) -> list[float] | None:
    """The lowest and highest ratio of one round's pair of runs (time and speed targets): how
    far the noise of a shared machine moves the ratio."""
    if kind not in ("time", "seconds", "speed"):
        return None
    pairs = list(zip(runs["project"], runs["limit"], strict=False))
    if kind != "speed":
        ratios = [project["seconds"] / limit["seconds"] for project, limit in pairs]
    else:
        ratios = [limit["seconds"] / project["seconds"] for project, limit in pairs]
    return [min(ratios), max(ratios)]


def _verdict(scenario: Scenario, summary: dict) -> str:
    if scenario.target.bound is None:
        return "reported"
    return "met" if summary["met"] else "MISSED"


def _ratio_text(kind: str, ratio: float) -> str:
    return f"{ratio:.0f} MB" if kind == "rss" else f"{ratio:.2f}x"


def report(scenario: Scenario, summary: dict) -> None:
    print(f"\n{scenario.name}: {summary['title']}")
    print(
        f"  {'side':<44}{'median s':>9}{'records/s':>12}{'CPU s':>8}{'peak RSS MB':>13}  runs (s)"
    )
    for side, label in (("project", "project"), ("limit", f"limit ({scenario.limit_label})")):
        values = summary["sides"][side]
        print(
            f"  {label:<44}{values['seconds']:>9.2f}{values['records_per_second']:>12,.0f}"
            f"{values['cpu']:>8.2f}{values['peak_rss_mb']:>13.0f}  {values['runs']}"
        )
        own = {key: value for key, value in values.items() if key not in _SUMMARY_KEYS}
        if own:
            print("    " + ", ".join(f"median {key} {value:.3f}" for key, value in own.items()))
    verdict = _verdict(scenario, summary)
    spread = summary["ratio_range"]
    within = f", {spread[0]:.2f}-{spread[1]:.2f}x by round" if spread else ""
    print(
        f"  ratio {_ratio_text(scenario.target.kind, summary['ratio'])}{within} "
        f"(target: {summary['target']}: {verdict}); CPU time project/limit "
        f"{summary['cpu_ratio']:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the project against its limits.")
    parser.add_argument("scenarios", nargs="*", help="scenario names, or 'all' (the default)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scenario (>= 3)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--dagster-postgres",
        metavar="URL",
        help="PostgreSQL database for Dagster's storage in `dagster_pg` "
        "(postgresql+psycopg2://user@host:port/database; default: TEST_POSTGRES_URL's server, "
        "database bench_dagster, created when missing)",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.scenarios if n != "all"] or list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<14}{scenario.title}  [{scenario.target.describe()}]")
        return 0
    if "dagster_pg" in names:
        url = args.dagster_postgres or _default_dagster_postgres()
        if url:
            os.environ[DAGSTER_POSTGRES] = url
    started = time.perf_counter()
    results: dict[str, dict] = {}
    for name in names:
        scenario = BY_NAME[name]
        reason = scenario.needs()
        if reason:
            print(f"\n{name}: skipped: {reason}")
            results[name] = {"skipped": reason}
            continue
        results[name] = summarise(scenario, measure(scenario, args.repeat))
        report(scenario, results[name])
    print(f"\nsummary ({time.perf_counter() - started:.0f} s, {os.cpu_count()} CPUs):")
    for name, summary in results.items():
        if "skipped" in summary:
            print(f"  {name:<14}skipped")
            continue
        ratio = _ratio_text(BY_NAME[name].target.kind, summary["ratio"])
        verdict = _verdict(BY_NAME[name], summary)
        print(f"  {name:<14}{ratio:>9}  {verdict:<7}{summary['target']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(s.get("met", True) for s in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
