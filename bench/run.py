"""Benchmark: the engine against a plain ``requests.Session`` loop over the same local pages.

    python bench/run.py [--records 300000] [--page-size 100] [--repeat 3]

A local API serves pre-serialised pages (so the server is not the bottleneck); each round runs
the engine through a page-increment manifest and the plain loop, alternately, and prints the
median records/s of both and their ratio (target: engine >= 0.85x the plain loop).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson
import requests

from engine import load_source

MANIFEST = """
version: 6.0.0
type: DeclarativeSource
check: {type: CheckStream, stream_names: [items]}
streams:
  - type: DeclarativeStream
    name: items
    primary_key: id
    retriever:
      type: SimpleRetriever
      requester: {type: HttpRequester, url_base: "URL", path: /items}
      record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
      paginator:
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        pagination_strategy: {type: PageIncrement, page_size: PAGE_SIZE, start_from_page: 1}
"""


def serve(records: int, page_size: int) -> tuple[ThreadingHTTPServer, str]:
    pages = []
    for start in range(0, records, page_size):
        data = [
            {
                "id": i,
                "name": f"item {i}",
                "updated_at": "2024-01-01T00:00:00Z",
                "amount": i * 1.5,
                "tags": ["a", "b"],
            }
            for i in range(start, min(start + page_size, records))
        ]
        pages.append(orjson.dumps({"data": data}))
    empty = orjson.dumps({"data": []})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
            body = pages[page - 1] if page <= len(pages) else empty
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run_engine(url: str, page_size: int) -> int:
    text = MANIFEST.replace("URL", url).replace("PAGE_SIZE", str(page_size))
    source = load_source(text, {})
    try:
        return sum(1 for _ in source.read_records("items"))
    finally:
        source.close()


def run_plain(url: str, page_size: int) -> int:
    count, page = 0, 1
    with requests.Session() as session:
        while True:
            params = {"page": page} if page > 1 else {}
            records = orjson.loads(session.get(f"{url}/items", params=params).content)["data"]
            count += len(records)
            if len(records) < page_size:
                return count
            page += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server, url = serve(args.records, args.page_size)
    timings: dict[str, list[float]] = {"engine": [], "plain": []}
    try:
        for _ in range(args.repeat):
            for name, run in (("engine", run_engine), ("plain", run_plain)):
                started = time.perf_counter()
                count = run(url, args.page_size)
                timings[name].append(time.perf_counter() - started)
                assert count == args.records, f"{name} read {count} records"
    finally:
        server.shutdown()
    rates = {name: args.records / statistics.median(values) for name, values in timings.items()}
    print(
        f"sequential page pagination, {args.records:,} records, {args.page_size}/page, "
        f"median of {args.repeat}"
    )
    for name, rate in rates.items():
        print(f"  {name:<7} {rate:>10,.0f} records/s")
    print(f"  ratio engine/plain: {rates['engine'] / rates['plain']:.2f}x (target >= 0.85x)")


if __name__ == "__main__":
    main()
