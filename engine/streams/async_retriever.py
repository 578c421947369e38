"""AsyncRetriever: records an API prepares as a server-side job (create, poll, download).

For each slice, one job at a time: the creation requester starts the job; the polling requester
asks for its status (right away, then after waits that grow up to a cap) until status_mapping
calls it over or ``polling_job_timeout`` passes; the targets of a completed job (URLs or ids, from
the polling response or from the download_target_requester's) are downloaded page by page and
their records selected, filtered and transformed; the delete requester then cleans the job up.
A job that fails or times out (timed-out jobs are aborted first) is started again, up to
``max_attempts`` jobs per slice, before the read fails with every attempt's outcome.

What templates see, in both the 2024 and today's spelling: polling, abort and delete requests
get ``creation_response`` (the creation body with ``headers``) and
``stream_slice['create_job_response']`` (with ``.json()``); the download target requester gets
``polling_response`` and ``stream_slice['polling_job_response']``; downloads get
``download_target`` and ``stream_slice['url']``. As in today's runtime, the stream's slicer adds
no request options to job requests: a slice reaches them through templates only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from engine.errors import EngineError, ReadError
from engine.http.client import Page, RequestStats
from engine.http.options import EMPTY
from engine.http.requester import HttpRequester
from engine.records.extract import DpathExtractor, Extractor
from engine.secrets import SecretMasker
from engine.slicing.base import Slicer
from engine.streams.retriever import SimpleRetriever


class JobStatus(Enum):
    """What an API's own status words mean; the values are status_mapping's keys."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timeout"
    IGNORE = "ignore"


@dataclass(frozen=True)
class PollingSchedule:
    """Waits between two polls of one job: ``first`` seconds, times ``factor``, at most ``longest``.

    Short first waits keep quick exports quick; the cap keeps a long job from being polled
    thousands of times. Tests set a schedule of milliseconds on the retriever.
    """

    first: float = 1.0
    longest: float = 30.0
    factor: float = 2.0

    def waits(self) -> Iterator[float]:
        wait = self.first
        while True:
            yield wait
            wait = min(wait * self.factor, self.longest)


class JobSlice(dict):
    """The slice an async job's request is sent with: the stream's slice, the job's objects under
    their 2024 keys, and ``extra_fields`` that the requester offers templates as top-level names."""

    def __init__(self, base: Mapping[str, Any], extra_fields: Mapping[str, Any], **items: Any):
        super().__init__(base, **items)
        self.extra_fields = dict(extra_fields)


@dataclass(frozen=True)
class JobResponse:
    """A creation or polling response as templates see it: the decoded body behind ``json()``,
    the headers and the status code; never the request, whose headers carry credentials."""

    body: Any
    headers: Mapping[str, str]
    status_code: int
    method: str
    url: str

    @classmethod
    def of(cls, page: Page) -> JobResponse:
        response = page.response
        if response is None:
            return cls(page.body, {}, 0, "", "")
        request = response.request
        return cls(
            page.body,
            response.headers,
            response.status_code,
            str(request.method or ""),
            str(request.url or ""),
        )

    def json(self) -> Any:
        return self.body

    def context(self) -> dict[str, Any]:
        """``creation_response`` / ``polling_response``: the body's fields, plus ``headers`` and
        ``request`` unless the body has fields of those names."""
        fields = dict(self.body) if isinstance(self.body, Mapping) else {}
        fields.setdefault("headers", self.headers)
        fields.setdefault("request", {"method": self.method, "url": self.url})
        return fields


_ID_FIELDS = ("id", "job_id", "jobId")


@dataclass
class _Job:
    stream_slice: Mapping[str, Any]
    creation: JobResponse
    status: JobStatus = JobStatus.RUNNING
    api_status: Any = None
    polling: JobResponse | None = None
    timed_out_here: bool = False
    abort_note: str = ""

    @property
    def label(self) -> str:
        """The API's id for the job when its creation body has a usual id field (errors only)."""
        body = self.creation.body
        if isinstance(body, Mapping):
            for name in _ID_FIELDS:
                if isinstance(body.get(name), (str, int)):
                    return f"job {body[name]!r}"
        return "the job"

    def outcome(self, timeout_minutes: float) -> str:
        if self.timed_out_here:
            what = (
                f"was still {self.api_status!r} after polling_job_timeout "
                f"({timeout_minutes:g} minutes)"
            )
        elif self.status is JobStatus.TIMED_OUT:
            what = f"timed out on the API's side (status {self.api_status!r})"
        else:
            what = f"failed (status {self.api_status!r})"
        return f"{self.label} {what}{self.abort_note}"


@dataclass
class AsyncRetriever:
    """One job per slice, read to the end before the next slice's job starts.

    ``polling``, ``max_attempts``, ``sleep`` and ``clock`` may be set on a built retriever (tests
    poll in milliseconds, or let a fake clock run a 60-minute timeout in no time).
    """

    creation_requester: HttpRequester
    polling_requester: HttpRequester
    status_extractor: Extractor
    status_mapping: Mapping[str, JobStatus]
    download_target_extractor: Extractor
    download: SimpleRetriever
    slicer: Slicer
    masker: SecretMasker
    download_target_requester: HttpRequester | None = None
    abort_requester: HttpRequester | None = None
    delete_requester: HttpRequester | None = None
    job_timeout_seconds: float = 3600.0
    max_attempts: int = 3
    polling: PollingSchedule = field(default_factory=PollingSchedule)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def read_slice(
        self, stream_slice: Mapping[str, Any], stats: RequestStats
    ) -> Iterator[dict[str, Any]]:
        ended: list[_Job] = []
        for _ in range(max(self.max_attempts, 1)):
            job = self._start(stream_slice, stats)
            self._wait(job, stats)
            if job.status is JobStatus.COMPLETED:
                yield from self._download(job, stats)
                if self.delete_requester is not None:
                    self._send(self.delete_requester, self._job_slice(job), stats)
                return
            if job.status is JobStatus.IGNORE:  # the manifest says: no records for this slice
                return
            if job.status is JobStatus.TIMED_OUT:
                job.abort_note = self._abort(job, stats)
            ended.append(job)
        raise self._gave_up(ended)

    # -- the job's life ------------------------------------------------------------------------

    def _start(self, stream_slice: Mapping[str, Any], stats: RequestStats) -> _Job:
        page = self._send(self.creation_requester, stream_slice, stats)
        if page.body is None:
            raise ReadError(
                "the error handler ignored the job creation response, so there is no job to poll",
                url=self._request_of(page),
            )
        return _Job(stream_slice, JobResponse.of(page))

    def _wait(self, job: _Job, stats: RequestStats) -> None:
        """Poll until the job is over or ``job_timeout_seconds`` have passed since it started."""
        deadline = self.clock() + self.job_timeout_seconds
        waits = self.polling.waits()
        try:
            while True:
                self._poll(job, stats)
                if job.status is not JobStatus.RUNNING:
                    return
                remaining = deadline - self.clock()
                if remaining <= 0:
                    job.status, job.timed_out_here = JobStatus.TIMED_OUT, True
                    return
                self.sleep(min(next(waits), remaining))
        except EngineError:
            self._abort(job, stats)  # we stop watching it: don't leave it running for nothing
            raise

    def _poll(self, job: _Job, stats: RequestStats) -> None:
        page = self._send(self.polling_requester, self._job_slice(job), stats)
        if page.body is None:
            raise ReadError(
                f"the error handler ignored the polling response, so the status of {job.label} "
                "is unknown",
                url=self._request_of(page),
            )
        job.polling = JobResponse.of(page)
        found = extracted(self.status_extractor, page.body)
        job.api_status = found[0] if found else None
        status = self.status_mapping.get(str(job.api_status))
        if status is None:
            raise ReadError(self._unknown_status(job), url=self._request_of(page))
        job.status = status

    def _download(self, job: _Job, stats: RequestStats) -> Iterator[dict[str, Any]]:
        assert job.polling is not None, "a completed job has been polled"
        variables = {
            "creation_response": job.creation.context(),
            "polling_response": job.polling.context(),
        }
        body = job.polling.body
        if self.download_target_requester is not None:
            target_slice = JobSlice(job.stream_slice, variables, polling_job_response=job.polling)
            body = self._send(self.download_target_requester, target_slice, stats).body
        for target in extracted(self.download_target_extractor, body):
            download_slice = JobSlice(
                job.stream_slice, {**variables, "download_target": target}, url=target
            )
            yield from self.download.read_slice(download_slice, stats)

    def _abort(self, job: _Job, stats: RequestStats) -> str:
        """Ask the API to stop the job, best effort: what happened, to add to the job's story."""
        if self.abort_requester is None:
            return ""
        try:
            self._send(self.abort_requester, self._job_slice(job), stats)
        except EngineError as error:
            return f" (aborting it failed too: {self.masker.mask(str(error))})"
        return " (it was aborted)"

    # -- helpers -------------------------------------------------------------------------------

    def _job_slice(self, job: _Job) -> JobSlice:
        variables = {"creation_response": job.creation.context()}
        return JobSlice(job.stream_slice, variables, create_job_response=job.creation)

    @staticmethod
    def _send(requester: HttpRequester, job_slice: Mapping[str, Any], stats: RequestStats) -> Page:
        return requester.send(
            stream_slice=job_slice,
            next_page_token=None,
            extra=EMPTY,
            url_override=None,
            stats=stats,
        )

    def _request_of(self, page: Page) -> str | None:
        request = page.response.request if page.response is not None else None
        if request is None:
            return None
        return self.masker.request_label(request.method, request.url)

    def _unknown_status(self, job: _Job) -> str:
        if job.api_status is None:
            return f"status_extractor found no status for {job.label} in the polling response"
        known = ", ".join(repr(s) for s in self.status_mapping)
        return self.masker.mask(
            f"{job.label} reported the status {job.api_status!r}, which status_mapping does not "
            f"list (it lists {known}); add it under running, completed, failed, timeout or ignore"
        )

    def _gave_up(self, ended: list[_Job]) -> ReadError:
        minutes = self.job_timeout_seconds / 60
        outcomes = "; ".join(
            f"attempt {number}: {job.outcome(minutes)}" for number, job in enumerate(ended, 1)
        )
        last = ended[-1].polling
        return ReadError(
            self.masker.mask(
                f"the async job did not complete in {len(ended)} attempt"
                f"{'s' if len(ended) != 1 else ''} ({outcomes})"
            ),
            url=self.masker.request_label(last.method, last.url) if last else None,
            failure_type="config_error",
        )


def extracted(extractor: Extractor, body: Any) -> list[Any]:
    """What an extractor finds in a body, a lone scalar (a status, a URL) included."""
    if isinstance(extractor, DpathExtractor):
        found = extractor.value(body)
        if isinstance(found, list):
            return found
        return [] if found is None else [found]
    return list(extractor.extract(body))
