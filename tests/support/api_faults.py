"""Which requests the test API server answers with a fault instead of the real response.

Two sources, consulted in this order: responses queued for the next requests to a path
(`FaultPlan.queue`), then faults drawn at a rate from a seeded generator (`FaultPlan.set_rate`),
so that fault-matrix tests are random in spread but identical from run to run.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .api_messages import RecordedRequest, Response


def compile_path_template(template: str) -> re.Pattern[str]:
    """``/projects/{id}/events`` -> a regex with one named group per ``{name}`` segment."""
    if not template.startswith("/"):
        raise ValueError(f"paths start with '/': {template!r}")
    pieces = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(
            re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>[^/]+)"
            for index, piece in enumerate(pieces)
        )
    )


@dataclass
class _RandomFaults:
    """Faults at a rate; streaks count faults in a row per (method, path, query) target."""

    rate: float
    responses: Sequence[Response]
    generator: random.Random
    pattern: re.Pattern[str] | None
    max_in_a_row: int | None
    streaks: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def pick(self, request: RecordedRequest) -> Response | None:
        if self.pattern is not None and not self.pattern.fullmatch(request.path):
            return None
        target = (request.method, request.path, urlencode(sorted(request.query.items()), True))
        streak = self.streaks.get(target, 0)
        draw = self.generator.random()
        response = self.generator.choice(self.responses)
        if draw >= self.rate or (self.max_in_a_row is not None and streak >= self.max_in_a_row):
            self.streaks.pop(target, None)
            return None
        self.streaks[target] = streak + 1
        return response


class FaultPlan:
    """Thread-safe: connection threads call `next_fault` while the test adds faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, tuple[re.Pattern[str], deque[Response]]] = {}
        self._random: _RandomFaults | None = None

    def queue(self, path: str, responses: Sequence[Response]) -> None:
        """Answer the next requests matching the ``path`` template with ``responses``, in order."""
        with self._lock:
            _, queued = self._queued.setdefault(path, (compile_path_template(path), deque()))
            queued.extend(responses)

    def set_rate(
        self,
        rate: float,
        responses: Sequence[Response],
        *,
        seed: int,
        path: str | None,
        max_in_a_row: int | None,
    ) -> None:
        """Replace the random faults; the parameters are those of `ApiServer.set_fault_rate`."""
        if not 0 <= rate <= 1:
            raise ValueError(f"rate is a fraction between 0 and 1, got {rate}")
        if rate and not responses:
            raise ValueError("a fault rate needs at least one response to serve as the fault")
        pattern = None if path is None else compile_path_template(path)
        faults = _RandomFaults(rate, responses, random.Random(seed), pattern, max_in_a_row)
        with self._lock:
            self._random = faults if rate else None

    def next_fault(self, request: RecordedRequest) -> Response | None:
        with self._lock:
            for pattern, queued in self._queued.values():
                if queued and pattern.fullmatch(request.path):
                    return queued.popleft()
            return None if self._random is None else self._random.pick(request)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._random = None
