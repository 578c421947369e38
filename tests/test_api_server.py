"""The test API server behaves like a real REST API over real sockets.

Every engine test relies on it, so each documented behaviour is pinned here with a plain
`requests` client: pagination styles, filters, path parameters, auth kinds, faults, keep-alive,
concurrency and clean shutdown.
"""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from support.api_server import (
    ApiKeyAuth,
    ApiServer,
    BasicAuth,
    BearerAuth,
    DateFilter,
    HandlerError,
    Pagination,
    RecordedRequest,
    Response,
)

ITEMS = [{"id": n, "updated_at": f"2024-01-{n:02d}T12:00:00Z"} for n in range(1, 8)]


@pytest.fixture
def session() -> Any:
    with requests.Session() as client:
        yield client


def _ids(records: list[dict[str, Any]]) -> list[int]:
    return [record["id"] for record in records]


# pagination


def test_no_pagination_serves_everything_at_once_and_a_bare_list_without_records_key(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/wrapped", ITEMS)
    api_server.add_collection("/bare", ITEMS, records_key=None)

    assert session.get(f"{api_server.url}/wrapped").json() == {"data": ITEMS}
    assert session.get(f"{api_server.url}/bare").json() == ITEMS


def test_page_pagination_honours_page_size_parameter_and_ends_with_an_empty_page(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS, pagination=Pagination("page", page_size=5))
    url = f"{api_server.url}/items"

    first = session.get(url).json()["data"]
    pages = [session.get(url, params={"page": n, "per_page": 3}).json()["data"] for n in (1, 2, 3)]
    beyond = session.get(url, params={"page": 4, "per_page": 3}).json()["data"]

    assert _ids(first) == [1, 2, 3, 4, 5]
    assert [_ids(page) for page in pages] == [[1, 2, 3], [4, 5, 6], [7]]
    assert beyond == []


def test_page_pagination_can_count_from_zero_and_rejects_bad_numbers(
    api_server: ApiServer, session: requests.Session
) -> None:
    paging = Pagination("page", page_size=4, first_page=0, page_param="p", size_param="size")
    api_server.add_collection("/items", ITEMS, pagination=paging)
    url = f"{api_server.url}/items"

    assert _ids(session.get(url, params={"p": 0}).json()["data"]) == [1, 2, 3, 4]
    assert _ids(session.get(url, params={"p": 1}).json()["data"]) == [5, 6, 7]
    not_a_number = session.get(url, params={"p": "two"})
    assert not_a_number.status_code == 400
    assert "p must be an integer" in not_a_number.json()["message"]
    assert session.get(url, params={"size": 0}).status_code == 400


def test_offset_pagination_uses_offset_and_limit(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS, pagination=Pagination("offset", page_size=4))
    url = f"{api_server.url}/items"

    assert _ids(session.get(url).json()["data"]) == [1, 2, 3, 4]
    assert _ids(session.get(url, params={"offset": 4}).json()["data"]) == [5, 6, 7]
    assert _ids(session.get(url, params={"offset": 2, "limit": 2}).json()["data"]) == [3, 4]
    assert session.get(url, params={"offset": 7}).json()["data"] == []


def test_cursor_pagination_hands_out_tokens_until_null(
    api_server: ApiServer, session: requests.Session
) -> None:
    paging = Pagination("cursor", page_size=3, next_key="next_cursor")
    api_server.add_collection("/items", ITEMS, pagination=paging, records_key="items")
    url = f"{api_server.url}/items"

    seen, params, tokens = [], {}, []
    while True:
        body = session.get(url, params=params).json()
        seen += body["items"]
        if body["next_cursor"] is None:
            break
        tokens.append(body["next_cursor"])
        params = {"cursor": body["next_cursor"]}

    assert seen == ITEMS
    assert len(tokens) == 2
    assert session.get(url, params={"cursor": "forged"}).status_code == 400


def test_link_pagination_announces_the_full_next_url_keeping_other_parameters(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection(
        "/items",
        ITEMS,
        pagination=Pagination("link", page_size=3),
        date_filter=DateFilter("updated_at"),
    )

    response = session.get(f"{api_server.url}/items", params={"updated_since": "2024-01-02"})
    seen = response.json()["data"]
    while "next" in response.links:
        assert response.links["next"]["url"].startswith(f"{api_server.url}/items?")
        response = session.get(response.links["next"]["url"])
        seen += response.json()["data"]

    assert _ids(seen) == [2, 3, 4, 5, 6, 7]
    assert [r.param("updated_since") for r in api_server.requests] == ["2024-01-02"] * 2
    assert [r.param("page") for r in api_server.requests] == [None, "2"]


def test_next_url_pagination_puts_the_next_url_in_the_body(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS, pagination=Pagination("next_url", page_size=4))

    body = session.get(f"{api_server.url}/items").json()
    second = session.get(body["next"]).json()

    assert body["next"] == f"{api_server.url}/items?page=2&per_page=4"
    assert _ids(body["data"] + second["data"]) == _ids(ITEMS)
    assert second["next"] is None


def test_body_token_styles_need_a_records_key(api_server: ApiServer) -> None:
    with pytest.raises(ValueError, match="records_key cannot be None"):
        api_server.add_collection("/items", ITEMS, pagination="cursor", records_key=None)


def test_records_are_read_live_so_appended_records_appear(
    api_server: ApiServer, session: requests.Session
) -> None:
    records = [{"id": 1}]
    api_server.add_collection("/items", records)
    records.append({"id": 2})

    assert _ids(session.get(f"{api_server.url}/items").json()["data"]) == [1, 2]


# filtering


def test_date_filter_is_inclusive_and_accepts_iso_dates_and_epoch_seconds(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection(
        "/items",
        ITEMS,
        date_filter=DateFilter("updated_at", since_param="start", until_param="end"),
    )
    url = f"{api_server.url}/items"
    epoch_jan_5_noon = int(datetime(2024, 1, 5, 12, tzinfo=timezone.utc).timestamp())

    iso = session.get(url, params={"start": "2024-01-02T12:00:00Z", "end": "2024-01-04T12:00:00"})
    epoch = session.get(url, params={"start": epoch_jan_5_noon})
    offset = session.get(url, params={"end": "2024-01-02T13:00:00+01:00"})

    assert _ids(iso.json()["data"]) == [2, 3, 4]
    assert _ids(epoch.json()["data"]) == [5, 6, 7]
    assert _ids(offset.json()["data"]) == [1, 2]


def test_date_filter_rejects_an_unparseable_date(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS, date_filter=DateFilter("updated_at"))

    response = session.get(f"{api_server.url}/items", params={"updated_since": "01/02/2024"})

    assert response.status_code == 400
    assert "updated_since" in response.json()["message"]


def test_filter_fields_keep_records_whose_field_equals_the_parameter(
    api_server: ApiServer, session: requests.Session
) -> None:
    records = [{"id": 1, "state": "open", "draft": False}, {"id": 2, "state": "closed"}]
    api_server.add_collection("/issues", records, filter_fields=("state", "draft"))
    url = f"{api_server.url}/issues"

    assert _ids(session.get(url, params={"state": "closed"}).json()["data"]) == [2]
    assert _ids(session.get(url, params={"draft": "false"}).json()["data"]) == [1]
    assert _ids(session.get(url).json()["data"]) == [1, 2]


# path parameters


def test_path_parameters_select_child_records_from_a_mapping(
    api_server: ApiServer, session: requests.Session
) -> None:
    events = {1: [{"id": "a"}], "two": [{"id": "b"}]}
    api_server.add_collection("/projects/{project_id}/events", events)

    assert session.get(f"{api_server.url}/projects/1/events").json()["data"] == [{"id": "a"}]
    assert session.get(f"{api_server.url}/projects/two/events").json()["data"] == [{"id": "b"}]
    assert session.get(f"{api_server.url}/projects/3/events").status_code == 404
    assert api_server.requests[0].path_params == {"project_id": "1"}


def test_path_parameters_reach_a_callable_decoded(
    api_server: ApiServer, session: requests.Session
) -> None:
    def commits(params: dict[str, str]) -> list[dict[str, Any]]:
        return [{"repo": f"{params['owner']}/{params['repo']}"}]

    api_server.add_collection("/repos/{owner}/{repo}/commits", commits, records_key=None)

    response = session.get(f"{api_server.url}/repos/acme/my%20repo/commits")

    assert response.json() == [{"repo": "acme/my repo"}]


def test_routes_match_whole_paths_only(api_server: ApiServer, session: requests.Session) -> None:
    api_server.add_collection("/projects/{id}/events", lambda params: [])

    missing = session.get(f"{api_server.url}/projects/1/events/extra")

    assert missing.status_code == 404
    assert missing.json()["message"] == "no route for GET /projects/1/events/extra"


# free-form routes and recording


def test_add_route_records_method_query_headers_and_body(
    api_server: ApiServer, session: requests.Session
) -> None:
    def echo(request: RecordedRequest) -> Response:
        return Response(201, {"got": request.json}, headers={"X-Echo": "yes"})

    api_server.add_route("post", "/echo", echo)

    response = session.post(
        f"{api_server.url}/echo?tag=a&tag=b&empty=", json={"k": 1}, headers={"X-Trace": "t1"}
    )

    assert (response.status_code, response.json(), response.headers["X-Echo"]) == (
        201,
        {"got": {"k": 1}},
        "yes",
    )
    (recorded,) = api_server.requests
    assert (recorded.method, recorded.path) == ("POST", "/echo")
    assert recorded.query == {"tag": ["a", "b"], "empty": [""]}
    assert recorded.headers["x-trace"] == "t1"
    assert recorded.body == b'{"k": 1}'


def test_a_raising_handler_gives_a_500_and_fails_the_test_at_exit(
    session: requests.Session,
) -> None:
    def broken(request: RecordedRequest) -> Response:
        raise KeyError("oops")

    with pytest.raises(HandlerError, match="KeyError: 'oops'"), ApiServer() as server:
        server.add_route("GET", "/broken", broken)
        assert session.get(f"{server.url}/broken").status_code == 500


def test_reset_forgets_routes_faults_and_requests(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS)
    api_server.fail_next("/items", Response(503))
    session.get(f"{api_server.url}/items")
    api_server.fail_next("/items", Response(503))

    api_server.reset()

    assert api_server.requests == []
    assert session.get(f"{api_server.url}/items").status_code == 404
    api_server.add_collection("/items", ITEMS)
    assert session.get(f"{api_server.url}/items").status_code == 200
    api_server.clear_requests()
    assert api_server.requests == []


# authentication


@pytest.mark.parametrize(
    ("auth", "good", "bad"),
    [
        (ApiKeyAuth("k3y", header="X-Api-Key"), {"headers": {"x-api-key": "k3y"}}, {}),
        (ApiKeyAuth("k3y", query_param="api_key"), {"params": {"api_key": "k3y"}}, {}),
        (
            BearerAuth("t0ken"),
            {"headers": {"Authorization": "Bearer t0ken"}},
            {"headers": {"Authorization": "Bearer wrong"}},
        ),
        (BasicAuth("ann", "s3cret"), {"auth": ("ann", "s3cret")}, {"auth": ("ann", "wrong")}),
    ],
    ids=["api-key-header", "api-key-query", "bearer", "basic"],
)
def test_auth_kinds_admit_the_right_credentials_only(
    api_server: ApiServer,
    session: requests.Session,
    auth: Any,
    good: dict[str, Any],
    bad: dict[str, Any],
) -> None:
    api_server.add_collection("/private", ITEMS, auth=auth)
    url = f"{api_server.url}/private"

    admitted = session.get(url, **good)
    refused = session.get(url, **bad)

    assert admitted.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "s3cret" not in refused.text and "wrong" not in refused.text


def test_api_key_auth_needs_exactly_one_place() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ApiKeyAuth("k")


def test_bearer_refusal_carries_a_challenge(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/private", ITEMS, auth=BearerAuth("t"))

    refused = session.get(f"{api_server.url}/private")

    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_oauth_refresh_grant_issues_tokens_the_collection_accepts_until_they_expire(
    api_server: ApiServer, session: requests.Session
) -> None:
    issuer = api_server.add_oauth_token_endpoint(
        "/oauth/token", client_id="cid", client_secret="csecret", refresh_token="rtok"
    )
    api_server.add_collection("/private", ITEMS, auth=BearerAuth(issuer))
    form = {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtok",
    }

    granted = session.post(f"{api_server.url}/oauth/token", data=form).json()
    bearer = {"Authorization": f"Bearer {granted['access_token']}"}
    before_expiry = session.get(f"{api_server.url}/private", headers=bearer)
    issuer.expire_all()
    after_expiry = session.get(f"{api_server.url}/private", headers=bearer)

    assert granted == {"access_token": "access-token-1", "token_type": "Bearer", "expires_in": 3600}
    assert issuer.issued == ["access-token-1"]
    assert api_server.requests[0].form["refresh_token"] == ["rtok"]
    assert (before_expiry.status_code, after_expiry.status_code) == (200, 401)


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"refresh_token": "stale"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_oauth_endpoint_refuses_bad_requests_like_rfc_6749(
    api_server: ApiServer,
    session: requests.Session,
    changes: dict[str, str],
    status: int,
    error: str,
) -> None:
    api_server.add_oauth_token_endpoint(
        "/token", client_id="cid", client_secret="csecret", refresh_token="rtok"
    )
    form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret"}
    form["refresh_token"] = "rtok"

    response = session.post(f"{api_server.url}/token", data={**form, **changes})

    assert (response.status_code, response.json()["error"]) == (status, error)


def test_oauth_client_credentials_grant_accepts_basic_auth_and_json(
    api_server: ApiServer, session: requests.Session
) -> None:
    issuer = api_server.add_oauth_token_endpoint(
        "/token", client_id="cid", client_secret="csecret", access_token="cc", expires_in=None
    )

    response = session.post(
        f"{api_server.url}/token",
        json={"grant_type": "client_credentials"},
        auth=("cid", "csecret"),
    )

    assert response.json() == {"access_token": "cc-1", "token_type": "Bearer"}
    assert issuer.is_valid("cc-1")


def test_session_login_hands_out_a_token_for_the_right_credentials(
    api_server: ApiServer, session: requests.Session
) -> None:
    issuer = api_server.add_session_login(
        "/login", {"username": "ann", "password": "pw"}, token_key="session_id"
    )
    api_server.add_collection("/private", ITEMS, auth=ApiKeyAuth(issuer, header="X-Session"))

    wrong = session.post(f"{api_server.url}/login", json={"username": "ann", "password": "no"})
    login = session.post(f"{api_server.url}/login", json={"username": "ann", "password": "pw"})
    token = login.json()["session_id"]
    admitted = session.get(f"{api_server.url}/private", headers={"X-Session": token})

    assert wrong.status_code == 401
    assert (token, admitted.status_code) == ("session-1", 200)


# faults


def test_fail_next_serves_queued_responses_in_order_before_routes_and_auth(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/projects/{id}/events", lambda params: ITEMS, auth=BearerAuth("t"))
    api_server.fail_next("/projects/{id}/events", Response(503), Response(502, "Bad gateway"))
    url = f"{api_server.url}/projects/9/events"
    auth = {"Authorization": "Bearer t"}

    statuses = [session.get(url, headers=auth).status_code for _ in range(3)]

    assert statuses == [503, 502, 200]
    assert len(api_server.requests) == 3


def test_retry_after_in_seconds_and_as_an_http_date(
    api_server: ApiServer, session: requests.Session
) -> None:
    when = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    api_server.add_collection("/items", ITEMS)
    api_server.fail_next("/items", Response.rate_limited(2), Response.rate_limited(when))

    seconds = session.get(f"{api_server.url}/items")
    date = session.get(f"{api_server.url}/items")

    assert (seconds.status_code, seconds.headers["Retry-After"]) == (429, "2")
    assert date.headers["Retry-After"] == "Mon, 06 May 2030 05:08:09 GMT"
    assert parsedate_to_datetime(date.headers["Retry-After"]) == when


def test_html_error_page_and_empty_body_with_status_200(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS)
    api_server.fail_next("/items", Response.html(), Response(200))

    html = session.get(f"{api_server.url}/items")
    empty = session.get(f"{api_server.url}/items")

    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    assert html.text.startswith("<html>")
    assert (empty.status_code, empty.content, empty.headers["Content-Length"]) == (200, b"", "0")


def test_reset_fault_breaks_the_body_mid_way(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.fail_next("/items", Response(200, {"data": ITEMS}, fault="reset"))

    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    ):
        session.get(f"{api_server.url}/items")


def test_truncate_fault_raises_in_requests(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.fail_next("/items", Response(200, {"data": ITEMS}, fault="truncate"))

    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        session.get(f"{api_server.url}/items")


def test_truncate_fault_sends_fewer_bytes_than_content_length(api_server: ApiServer) -> None:
    api_server.fail_next("/items", Response(200, b"0123456789", fault="truncate"))
    host, port = api_server.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"GET /items HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk

    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 10" in head
    assert body == b"01234"


def test_drop_and_hang_faults(api_server: ApiServer, session: requests.Session) -> None:
    api_server.add_collection("/items", ITEMS)
    api_server.fail_next("/items", Response(fault="drop"), Response(fault="hang"))

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{api_server.url}/items")
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{api_server.url}/items", timeout=0.2)
    assert session.get(f"{api_server.url}/items").status_code == 200


def test_a_delayed_response_outlasts_a_short_client_timeout(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.fail_next("/slow", Response(200, {"ok": True}, delay=5))

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{api_server.url}/slow", timeout=0.2)


def test_faults_that_cut_the_body_need_a_body() -> None:
    with pytest.raises(ValueError, match="give it a body"):
        Response(fault="truncate")


def _fault_pattern(server: ApiServer, session: requests.Session) -> list[int]:
    return [session.get(f"{server.url}/items", params={"n": n}).status_code for n in range(40)]


def test_fault_rate_is_reproducible_for_a_seed(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS)
    api_server.set_fault_rate(0.3, Response(500), Response(503), seed=11)
    first = _fault_pattern(api_server, session)
    api_server.set_fault_rate(0.3, Response(500), Response(503), seed=11)
    second = _fault_pattern(api_server, session)
    api_server.set_fault_rate(0)
    after_off = _fault_pattern(api_server, session)

    assert first == second
    assert set(first) == {200, 500, 503}
    assert set(after_off) == {200}


def test_fault_rate_limits_faults_in_a_row_per_request(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS)
    api_server.add_collection("/other", ITEMS)
    api_server.set_fault_rate(1.0, Response(503), path="/items", max_in_a_row=2)

    attempts = [session.get(f"{api_server.url}/items").status_code for _ in range(6)]
    other = session.get(f"{api_server.url}/other")

    assert attempts == [503, 503, 200, 503, 503, 200]
    assert other.status_code == 200


# connections and threads


def test_a_session_reuses_one_keep_alive_connection(
    api_server: ApiServer, session: requests.Session
) -> None:
    api_server.add_collection("/items", ITEMS, pagination=Pagination("page", page_size=2))

    for page in (1, 2, 3):
        session.get(f"{api_server.url}/items", params={"page": page})

    assert len({request.connection for request in api_server.requests}) == 1


def test_a_slow_handler_does_not_block_other_connections(
    api_server: ApiServer, session: requests.Session
) -> None:
    released = threading.Event()

    def wait_for_release(request: RecordedRequest) -> Response:
        return Response(200, {"released": released.wait(timeout=5)})

    def release(request: RecordedRequest) -> Response:
        released.set()
        return Response(204)

    api_server.add_route("GET", "/wait", wait_for_release)
    api_server.add_route("GET", "/release", release)
    results: list[dict[str, bool]] = []
    waiter = threading.Thread(
        target=lambda: results.append(requests.get(f"{api_server.url}/wait", timeout=10).json())
    )

    waiter.start()
    session.get(f"{api_server.url}/release")
    waiter.join()

    assert results == [{"released": True}]


def test_stopping_joins_every_thread_even_with_idle_and_hanging_connections(
    session: requests.Session,
) -> None:
    before = set(threading.enumerate())
    with ApiServer(hang_seconds=30) as server:
        server.add_collection("/items", ITEMS)
        server.fail_next("/hang", Response(fault="hang"))
        session.get(f"{server.url}/items")  # leaves an idle keep-alive connection open
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{server.url}/hang", timeout=0.2)
        assert server.url.startswith("http://127.0.0.1:")

    assert set(threading.enumerate()) - before == set()
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018


def test_tests_reach_loopback_only(api_server: ApiServer, session: requests.Session) -> None:
    """The suite's guard (conftest.py) refuses a lookup of any other host at once, while the
    loopback server stays reachable."""
    from conftest import NonLoopbackLookup

    api_server.add_route("GET", "/ok", lambda request: Response(200, {}))
    assert session.get(f"{api_server.url}/ok", timeout=5).status_code == 200
    with pytest.raises(NonLoopbackLookup, match=r"api\.example\.com"):
        session.get("https://api.example.com/x", timeout=5)
