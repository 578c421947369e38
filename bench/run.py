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

from bench.scenarios import BY_NAME, SCENARIOS, Scenario

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("project", "limit")
WORKER_TIMEOUT = 300


class BenchError(RuntimeError):
    """A side failed or read the wrong number of records: its numbers would mean nothing."""


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
        }
    project, limit = sides["project"], sides["limit"]
    kind, bound = scenario.target.kind, scenario.target.bound
    ratio = {
        "speed": project["records_per_second"] / limit["records_per_second"],
        "time": project["seconds"] / limit["seconds"],
        "rss": project["peak_rss_mb"],
        "rss_growth": project["peak_rss_mb"] / limit["peak_rss_mb"],
    }[kind]
    met = ratio >= bound if kind == "speed" else ratio <= bound if kind != "rss" else ratio < bound
    return {
        "title": scenario.title,
        "target": scenario.target.describe(),
        "ratio": ratio,
        "cpu_ratio": project["cpu"] / limit["cpu"],
        "met": met,
        "sides": sides,
    }


def _ratio_text(kind: str, ratio: float) -> str:
    return f"{ratio:.0f} MB" if kind == "rss" else f"{ratio:.2f}x"


def report(scenario: Scenario, summary: dict) -> None:
    print(f"\n{scenario.name}: {summary['title']}")
    print(
        f"  {'side':<34}{'median s':>9}{'records/s':>12}{'CPU s':>8}{'peak RSS MB':>13}  runs (s)"
    )
    for side, label in (("project", "project"), ("limit", f"limit ({scenario.limit_label})")):
        values = summary["sides"][side]
        print(
            f"  {label:<34}{values['seconds']:>9.2f}{values['records_per_second']:>12,.0f}"
            f"{values['cpu']:>8.2f}{values['peak_rss_mb']:>13.0f}  {values['runs']}"
        )
    verdict = "met" if summary["met"] else "MISSED"
    print(
        f"  ratio {_ratio_text(scenario.target.kind, summary['ratio'])} "
        f"(target: {summary['target']}: {verdict}); CPU time project/limit "
        f"{summary['cpu_ratio']:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the project against its limits.")
    parser.add_argument("scenarios", nargs="*", help="scenario names, or 'all' (the default)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scenario (>= 3)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<14}{scenario.title}  [{scenario.target.describe()}]")
        return 0
    names = [n for n in args.scenarios if n != "all"] or list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
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
        verdict = "met" if summary["met"] else "MISSED"
        print(f"  {name:<14}{ratio:>9}  {verdict:<7}{summary['target']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(s.get("met", True) for s in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
