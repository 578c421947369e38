"""AsyncRetriever against a real export API: create a job, poll it, download its files."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from manifests import page_paginator
from support.api_server import ApiServer, Pagination, RecordedRequest, Response

from engine import ManifestError, ReadError, load_source
from engine.streams.async_retriever import PollingSchedule

TOKEN = "sekret-token-123"
RECORDS = [{"ID": 1, "Email": "a@x.io"}, {"ID": 2, "Email": "b@x.io"}]
FAST_RETRY = {
    "type": "DefaultErrorHandler",
    "max_retries": 3,
    "backoff_strategies": [{"type": "ConstantBackoffStrategy", "backoff_time_in_seconds": 0.01}],
}

FileBody = Response | Callable[[dict], Response]


class ExportApi:
    """An export API on the test server.

    ``POST /exports`` starts job ``job-<n>``; ``GET /exports/{id}`` answers the job's statuses in
    turn (job n takes ``statuses[n]``, the last list repeating; a list's last status repeats);
    ``ready`` comes with ``urls`` pointing at ``/files/<name>/<job id>`` for each of ``files``;
    ``DELETE /exports/{id}`` aborts or deletes. A file is a Response, or a function of the job.
    ``urls`` (paths on the server) replace the file URLs when the test serves the files itself.
    """

    def __init__(
        self,
        server: ApiServer,
        statuses: list[list[str]],
        files: dict[str, FileBody],
        urls: list[str] | None = None,
    ) -> None:
        self.server, self.statuses, self.files, self.urls = server, statuses, files, urls
        self.jobs: dict[str, dict[str, Any]] = {}
        server.add_route("POST", "/exports", self._create)
        server.add_route("GET", "/exports/{id}", self._poll)
        server.add_route("DELETE", "/exports/{id}", lambda r: Response(200, {"ok": True}))
        server.add_route("GET", "/files/{name}/{job}", self._file)

    def _create(self, request: RecordedRequest) -> Response:
        job_id = f"job-{len(self.jobs) + 1}"
        self.jobs[job_id] = {"body": request.json, "polls": 0, "index": len(self.jobs)}
        return Response(200, {"id": job_id, "state": "created"})

    def _poll(self, request: RecordedRequest) -> Response:
        job_id = request.path_params["id"]
        job = self.jobs[job_id]
        statuses = self.statuses[min(job["index"], len(self.statuses) - 1)]
        status = statuses[min(job["polls"], len(statuses) - 1)]
        job["polls"] += 1
        body: dict[str, Any] = {"status": status}
        if status == "ready":
            paths = self.urls or [f"/files/{name}/{job_id}" for name in self.files]
            body["urls"] = [self.server.url + path for path in paths]
        return Response(200, body)

    def _file(self, request: RecordedRequest) -> Response:
        body = self.files[request.path_params["name"]]
        return body(self.jobs[request.path_params["job"]]) if callable(body) else body

    def calls(self, method: str | None = None) -> list[str]:
        return [
            f"{r.method} {r.path}"
            for r in self.server.requests
            if method is None or r.method == method
        ]


def _requester(url: str, method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "HttpRequester",
        "url_base": url,
        "path": path,
        "http_method": method,
        "authenticator": {"type": "BearerAuthenticator", "api_token": "{{ config['api_key'] }}"},
        "error_handler": FAST_RETRY,
        **extra,
    }


def export_manifest(url: str, *, stream: dict | None = None, **retriever: Any) -> dict:
    definition: dict[str, Any] = {
        "type": "AsyncRetriever",
        "creation_requester": _requester(url, "POST", "/exports"),
        "polling_requester": _requester(url, "GET", "/exports/{{ creation_response['id'] }}"),
        "download_requester": {
            "type": "HttpRequester",
            "url_base": "",
            "path": "{{ download_target }}",
            "error_handler": FAST_RETRY,
        },
        "status_mapping": {
            "running": ["pending"],
            "completed": ["ready"],
            "failed": ["failed"],
            "timeout": ["expired"],
        },
        "status_extractor": {"type": "DpathExtractor", "field_path": ["status"]},
        "download_target_extractor": {"type": "DpathExtractor", "field_path": ["urls"]},
        "record_selector": {
            "type": "RecordSelector",
            "extractor": {"type": "DpathExtractor", "field_path": []},
        },
    }
    definition.update(retriever)
    return {
        "version": "6.7.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["exports"]},
        "streams": [
            {
                "type": "DeclarativeStream",
                "name": "exports",
                "primary_key": "id",
                "retriever": definition,
                "transformations": [{"type": "KeysToLower"}],
                "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
                **(stream or {}),
            }
        ],
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "properties": {"api_key": {"type": "string", "airbyte_secret": True}},
            },
        },
    }


class FakeClock:
    """Time that passes only when the retriever sleeps, so a 60-minute timeout takes no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def read(manifest: dict, *, clock: FakeClock | None = None, attempts: int = 3) -> list[dict]:
    source = load_source(manifest, {"api_key": TOKEN})
    try:
        retriever = source.stream("exports").retriever
        retriever.polling = PollingSchedule(first=0.001, longest=0.005)
        retriever.max_attempts = attempts
        if clock is not None:
            retriever.polling = PollingSchedule()
            retriever.sleep, retriever.clock = clock.sleep, lambda: clock.now
        return list(source.read_records("exports"))
    finally:
        source.close()


def _json(records: list[dict] = RECORDS) -> Response:
    return Response(200, records)


def _csv(records: list[dict] = RECORDS, delimiter: str = ",") -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(records[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(records)
    return text.getvalue().encode()


def _jsonl(records: list[dict] = RECORDS) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


LOWERED = [{"id": 1, "email": "a@x.io"}, {"id": 2, "email": "b@x.io"}]


# -- the job's life --------------------------------------------------------------------------


def test_a_job_completes_after_polls_and_its_records_are_read(api_server):
    api = ExportApi(api_server, [["pending", "pending", "ready"]], {"all": _json()})
    assert read(export_manifest(api_server.url)) == LOWERED
    assert api.calls() == [
        "POST /exports",
        "GET /exports/job-1",
        "GET /exports/job-1",
        "GET /exports/job-1",
        "GET /files/all/job-1",
    ]
    creation = api_server.requests[0]
    assert creation.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in api_server.requests[-1].headers  # the download has no auth


def test_the_2024_spelling_reads_too_and_the_job_is_deleted_afterwards(api_server):
    """create_job_response.json(), urls_extractor and stream_slice['url'], as sendgrid wrote."""
    api = ExportApi(api_server, [["ready"]], {"all": _json()})
    manifest = export_manifest(
        api_server.url,
        polling_requester=_requester(
            api_server.url, "GET", "/exports/{{ stream_slice['create_job_response'].json()['id'] }}"
        ),
        download_requester={
            "type": "HttpRequester",
            "url_base": "",
            "path": "{{stream_slice['url']}}",
        },
        delete_requester=_requester(
            api_server.url, "DELETE", "/exports/{{ creation_response['id'] }}"
        ),
    )
    manifest["streams"][0]["retriever"]["urls_extractor"] = manifest["streams"][0]["retriever"].pop(
        "download_target_extractor"
    )
    assert read(manifest) == LOWERED
    assert api.calls()[-2:] == ["GET /files/all/job-1", "DELETE /exports/job-1"]


def test_every_url_of_a_job_is_downloaded_in_order(api_server):
    first, second = [{"ID": 1}], [{"ID": 2}, {"ID": 3}]
    api = ExportApi(api_server, [["ready"]], {"a": _json(first), "b": _json(second)})
    assert read(export_manifest(api_server.url)) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert api.calls("GET")[-2:] == ["GET /files/a/job-1", "GET /files/b/job-1"]


@pytest.mark.parametrize(
    ("decoder", "body"),
    [
        ({"type": "CsvDecoder"}, _csv()),
        ({"type": "CsvDecoder", "delimiter": ";"}, _csv(delimiter=";")),
        ({"type": "JsonlDecoder"}, _jsonl()),
        ({"type": "GzipDecoder", "decoder": {"type": "CsvDecoder"}}, gzip.compress(_csv())),
        ({"type": "GzipDecoder", "decoder": {"type": "JsonlDecoder"}}, gzip.compress(_jsonl())),
    ],
    ids=["csv", "csv-semicolon", "jsonl", "gzip-csv", "gzip-jsonl"],
)
def test_downloads_are_decoded_with_the_download_decoder(api_server, decoder, body):
    ExportApi(api_server, [["ready"]], {"all": Response(200, body)})
    records = read(export_manifest(api_server.url, download_decoder=decoder))
    as_text = [{k: str(v) for k, v in r.items()} for r in LOWERED]
    assert records == (LOWERED if "Jsonl" in json.dumps(decoder) else as_text)


def test_a_download_target_requester_asks_for_the_urls(api_server):
    """The polling response names a report; another request turns it into download URLs."""
    api = ExportApi(api_server, [["ready"]], {"all": _json()})
    api_server.add_route(
        "GET",
        "/exports/{id}",
        lambda r: Response(200, {"status": "ready", "report": f"r-{r.path_params['id']}"}),
    )
    api_server.add_route(
        "GET",
        "/reports/{report}",
        lambda r: Response(200, {"files": [{"href": f"{api_server.url}/files/all/job-1"}]}),
    )
    manifest = export_manifest(
        api_server.url,
        download_target_requester=_requester(
            api_server.url, "GET", "/reports/{{ polling_response['report'] }}"
        ),
        download_target_extractor={"type": "DpathExtractor", "field_path": ["files", "*", "href"]},
    )
    assert read(manifest) == LOWERED
    assert api.calls("GET")[-2:] == ["GET /reports/r-job-1", "GET /files/all/job-1"]


def test_a_download_is_read_page_by_page_with_the_download_paginator(api_server):
    api = ExportApi(api_server, [["ready"]], {}, urls=["/pages"])
    api_server.add_collection("/pages", RECORDS * 2, pagination=Pagination("page", page_size=2))
    manifest = export_manifest(
        api_server.url,
        download_extractor={"type": "DpathExtractor", "field_path": ["data"]},
        download_paginator=page_paginator(2),
    )
    assert read(manifest) == LOWERED * 2
    pages = [r.param("page") for r in api_server.requests if r.path == "/pages"]
    assert pages == [None, "2", "3"]
    assert len(api.jobs) == 1


def test_download_extractor_and_record_filter_apply_to_the_downloaded_records(api_server):
    ExportApi(api_server, [["ready"]], {"all": Response(200, {"rows": RECORDS})})
    manifest = export_manifest(
        api_server.url,
        download_extractor={"type": "DpathExtractor", "field_path": ["rows"]},
        record_selector={
            "type": "RecordSelector",
            "extractor": {"type": "DpathExtractor", "field_path": ["ignored"]},
            "record_filter": {"type": "RecordFilter", "condition": "{{ record['ID'] > 1 }}"},
        },
    )
    assert read(manifest) == [{"id": 2, "email": "b@x.io"}]


def test_a_partitioned_stream_runs_one_job_per_slice(api_server):
    def rows_of(job: dict) -> Response:
        return Response(200, [{"ID": 1, "Region": job["body"]["region"]}])

    api = ExportApi(api_server, [["pending", "ready"]], {"all": rows_of})
    manifest = export_manifest(
        api_server.url,
        creation_requester=_requester(
            api_server.url,
            "POST",
            "/exports",
            request_body_json={"region": "{{ stream_partition.region }}"},
        ),
        partition_router={
            "type": "ListPartitionRouter",
            "values": ["eu", "us"],
            "cursor_field": "region",
        },
    )
    manifest["streams"][0]["transformations"].append(
        {
            "type": "AddFields",
            "fields": [{"path": ["slice"], "value": "{{ stream_slice['region'] }}"}],
        }
    )
    assert read(manifest) == [
        {"id": 1, "region": "eu", "slice": "eu"},
        {"id": 1, "region": "us", "slice": "us"},
    ]
    assert [job["body"] for job in api.jobs.values()] == [{"region": "eu"}, {"region": "us"}]
    assert api.calls("POST") == ["POST /exports"] * 2


def test_an_ignored_status_gives_no_records_and_no_error(api_server):
    api = ExportApi(api_server, [["skipped"]], {})
    mapping = {
        "running": ["pending"],
        "completed": ["ready"],
        "failed": ["failed"],
        "timeout": ["expired"],
        "ignore": ["skipped"],
    }
    assert read(export_manifest(api_server.url, status_mapping=mapping)) == []
    assert api.calls() == ["POST /exports", "GET /exports/job-1"]


# -- failures ----------------------------------------------------------------------------------

REGION = {"type": "ListPartitionRouter", "values": ["eu"], "cursor_field": "region"}


def test_a_failed_job_is_started_again_then_the_read_fails_naming_stream_slice_and_status(
    api_server,
):
    api = ExportApi(api_server, [["pending", "failed"]], {})
    with pytest.raises(ReadError) as caught:
        read(export_manifest(api_server.url, partition_router=REGION))
    message = str(caught.value)
    assert api.calls("POST") == ["POST /exports"] * 3
    assert "did not complete in 3 attempts" in message
    assert "attempt 1: job 'job-1' failed (status 'failed')" in message
    assert "attempt 3: job 'job-3' failed" in message
    assert "stream 'exports'" in message and "slice {region='eu'}" in message
    assert f"GET {api_server.url}/exports/job-3" in message


def test_a_job_that_fails_once_is_replaced_and_read(api_server):
    api = ExportApi(api_server, [["failed"], ["pending", "ready"]], {"all": _json()})
    assert read(export_manifest(api_server.url)) == LOWERED
    assert api.calls("POST") == ["POST /exports"] * 2
    assert api.calls("GET")[-1] == "GET /files/all/job-2"


def test_a_job_past_its_timeout_is_aborted_and_the_read_fails(api_server):
    api = ExportApi(api_server, [["pending"]], {})
    manifest = export_manifest(
        api_server.url,
        polling_job_timeout="{{ 2 }}",
        abort_requester=_requester(
            api_server.url, "DELETE", "/exports/{{ creation_response['id'] }}"
        ),
    )
    clock = FakeClock()
    with pytest.raises(ReadError) as caught:
        read(manifest, clock=clock, attempts=1)
    message = str(caught.value)
    assert "job 'job-1' was still 'pending' after polling_job_timeout (2 minutes)" in message
    assert "(it was aborted)" in message and "stream 'exports'" in message
    assert api.calls("DELETE") == ["DELETE /exports/job-1"]
    assert clock.now == pytest.approx(120.0)
    assert clock.slept[:3] == [1.0, 2.0, 4.0] and max(clock.slept) == 30.0  # backoff, capped
    assert len(api.calls("GET")) == len(clock.slept) + 1  # a poll right away, then after waits


def test_a_job_the_api_times_out_is_aborted_and_retried(api_server):
    api = ExportApi(api_server, [["expired"], ["ready"]], {"all": _json()})
    manifest = export_manifest(
        api_server.url,
        abort_requester=_requester(
            api_server.url, "DELETE", "/exports/{{ creation_response['id'] }}"
        ),
    )
    assert read(manifest) == LOWERED
    assert api.calls("DELETE") == ["DELETE /exports/job-1"]


def test_a_status_missing_from_status_mapping_is_a_clear_error(api_server):
    api = ExportApi(api_server, [["pending", "archived"]], {})
    manifest = export_manifest(
        api_server.url,
        partition_router=REGION,
        abort_requester=_requester(
            api_server.url, "DELETE", "/exports/{{ creation_response['id'] }}"
        ),
    )
    with pytest.raises(ReadError) as caught:
        read(manifest)
    message = str(caught.value)
    assert "job 'job-1' reported the status 'archived', which status_mapping does not" in message
    assert "'pending', 'ready', 'failed', 'expired'" in message
    assert "stream 'exports'" in message and "slice {region='eu'}" in message
    assert api.calls("POST") == ["POST /exports"]  # not a job failure: nothing is retried
    assert api.calls("DELETE") == ["DELETE /exports/job-1"]  # the job we stop watching


def test_server_errors_while_polling_are_retried_by_the_error_handler(api_server):
    api = ExportApi(api_server, [["pending", "ready"]], {"all": _json()})
    api_server.fail_next("/exports/{id}", Response(500), Response(503))
    assert read(export_manifest(api_server.url)) == LOWERED
    assert api.calls("GET") == ["GET /exports/job-1"] * 4 + ["GET /files/all/job-1"]


def test_polling_that_keeps_failing_ends_the_read_without_the_token(api_server):
    ExportApi(api_server, [["pending"]], {})
    api_server.fail_next("/exports/{id}", *[Response(500, {"error": f"bad {TOKEN}"})] * 4)
    with pytest.raises(ReadError) as caught:
        read(export_manifest(api_server.url))
    assert "kept failing after all retries" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_the_api_token_never_appears_in_an_error(api_server):
    """The token goes in the query string and the API echoes it in its status."""
    api_server.add_route("POST", "/exports", lambda r: Response(200, {"id": "job-1"}))
    api_server.add_route(
        "GET", "/exports/{id}", lambda r: Response(200, {"status": f"denied for {TOKEN}"})
    )
    key_in_query = {
        "type": "ApiKeyAuthenticator",
        "api_token": "{{ config['api_key'] }}",
        "inject_into": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "key",
        },
    }
    manifest = export_manifest(api_server.url)
    retriever = manifest["streams"][0]["retriever"]
    for name in ("creation_requester", "polling_requester"):
        retriever[name]["authenticator"] = key_in_query
    with pytest.raises(ReadError) as caught:
        read(manifest)
    message = str(caught.value)
    assert TOKEN not in message
    assert "reported the status 'denied for ****'" in message
    assert "key=****" in message


# -- manifests ---------------------------------------------------------------------------------


def _build(manifest: dict) -> None:
    source = load_source(manifest, {"api_key": TOKEN})
    try:
        _ = source.streams
    finally:
        source.close()


def test_a_retriever_without_download_targets_is_refused_by_path():
    manifest = export_manifest("http://127.0.0.1:9")
    del manifest["streams"][0]["retriever"]["download_target_extractor"]
    with pytest.raises(ManifestError) as caught:
        _build(manifest)
    assert caught.value.path == "streams[0].retriever"
    assert "download_target_extractor (or urls_extractor)" in str(caught.value)


def test_a_field_under_its_current_and_former_name_is_refused_by_path():
    manifest = export_manifest("http://127.0.0.1:9")
    retriever = manifest["streams"][0]["retriever"]
    retriever["urls_extractor"] = retriever["download_target_extractor"]
    with pytest.raises(ManifestError) as caught:
        _build(manifest)
    assert caught.value.path == "streams[0].retriever.urls_extractor"


def test_a_status_listed_twice_is_refused_by_path():
    mapping = {"running": ["pending"], "completed": ["ready"], "failed": ["ready"], "timeout": []}
    with pytest.raises(ManifestError) as caught:
        _build(export_manifest("http://127.0.0.1:9", status_mapping=mapping))
    assert caught.value.path == "streams[0].retriever.status_mapping.failed"
    assert "'ready' is listed under both completed and failed" in str(caught.value)


def test_a_missing_requester_and_a_bad_timeout_are_refused_by_path():
    manifest = export_manifest("http://127.0.0.1:9")
    del manifest["streams"][0]["retriever"]["polling_requester"]
    with pytest.raises(ManifestError) as caught:
        _build(manifest)
    assert "missing its required field 'polling_requester'" in str(caught.value)
    with pytest.raises(ManifestError) as caught:
        _build(export_manifest("http://127.0.0.1:9", polling_job_timeout="soon"))
    assert caught.value.path == "streams[0].retriever.polling_job_timeout"
