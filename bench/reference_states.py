"""Record what the reference runner writes and reads back for every state shape.

``python -m bench.reference_states`` runs ``tests/support/state_scenarios.py``'s connector under
airbyte-cdk 7 (see bench/reference_runner.py) against the test API server, twice: a first read
from no state, then a second read a few days later from the first read's states (and from a
2022-style state for the stream with a state migration). It writes the states, records and
child requests to ``tests/fixtures/reference_states.json``, which the state compatibility tests
hold the engine to. Re-run it when the scenario changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import state_scenarios as scenario  # noqa: E402
from support.api_server import ApiServer  # noqa: E402

from bench.reference_runner import (  # noqa: E402
    errors,
    final_states,
    records_by_stream,
    reference_version,
    run,
)

FIXTURE = ROOT / "tests" / "fixtures" / "reference_states.json"


def _read(server: ApiServer, end: str, state: Any = None) -> dict[str, Any]:
    server.clear_requests()
    config = {**scenario.config(end), "url": server.url}
    messages = run(
        "reference", "read", scenario.manifest(), config, catalog=scenario.catalog(), state=state
    )
    if errors(messages):
        raise SystemExit(f"the reference runner failed: {errors(messages)}")
    return {
        "states": final_states(messages),
        "records": {
            name: sorted(record["id"] for record in records)
            for name, records in records_by_stream(messages).items()
        },
        "child_requests": scenario.child_requests(server.requests),
    }


def main() -> int:
    with ApiServer() as server:
        scenario.serve(server)
        first = _read(server, scenario.FIRST_END)
        resume_from = {**first["states"], "notes": scenario.LEGACY_NOTES_STATE}
        server.reset()
        scenario.serve(server, second_round=True)
        second = _read(server, scenario.SECOND_END, scenario.stream_state_messages(resume_from))
    document = {
        "written_by": f"airbyte-cdk {reference_version()}",
        "first_read": first,
        "second_read": {"input_states": resume_from, **second},
    }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE.relative_to(ROOT)} ({document['written_by']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
