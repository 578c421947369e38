"""Builder of the AsyncRetriever: its job requesters, status mapping, extractors and download.

Defaults are today's runtime's: JSON for the job responses (``decoder``) and for the downloaded
files (``download_decoder``), the whole downloaded body as the records (``download_extractor``),
no download pagination, and a job timeout of 60 minutes. The stream's record selector only
filters, transforms and normalises the downloaded records; its extractor is not used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.factory.context import BuildContext, builds
from engine.factory.http import requester as build_requester
from engine.factory.records import record_selector
from engine.slicing.base import SingleSlice, Slicer
from engine.streams.async_retriever import AsyncRetriever, JobStatus
from engine.streams.retriever import SimpleRetriever

DEFAULT_JOB_TIMEOUT_MINUTES = 60.0

# Today's names first; the 2024 names are still read (manifests published then use them).
_RENAMED = {
    "download_target_extractor": "urls_extractor",
    "download_target_requester": "url_requester",
}


def async_retriever(
    ctx: BuildContext, d: dict, path: str, slicer: Slicer, transformations: list, schema: Any
) -> AsyncRetriever:
    decoder = ctx.optional(d.get("decoder"), f"{path}.decoder")
    download_decoder = ctx.optional(d.get("download_decoder"), f"{path}.download_decoder")

    def job_requester(key: str, decoding: Any) -> Any:
        definition = d.get(key)
        if definition is None:
            return None
        if definition["type"] != "HttpRequester":
            return ctx.build(definition, f"{path}.{key}")
        return build_requester(ctx, definition, f"{path}.{key}", decoder=decoding)

    target_extractor_key = _current_or_renamed(ctx, d, "download_target_extractor", path)
    if target_extractor_key is None:
        raise ctx.error(
            "the AsyncRetriever does not say where a completed job's downloads are",
            d,
            None,
            path,
            expected="download_target_extractor (or urls_extractor), e.g. a DpathExtractor "
            "with field_path: [urls]",
        )
    target_requester_key = _current_or_renamed(ctx, d, "download_target_requester", path)
    selector = record_selector(
        ctx, d["record_selector"], f"{path}.record_selector", transformations, schema
    )
    download_extractor = ctx.build(
        d.get("download_extractor") or {"type": "DpathExtractor", "field_path": []},
        f"{path}.download_extractor",
    )
    download = SimpleRetriever(
        requester=job_requester("download_requester", download_decoder),
        record_selector=dataclasses.replace(selector, extractor=download_extractor),
        paginator=ctx.build(
            d.get("download_paginator") or {"type": "NoPagination"}, f"{path}.download_paginator"
        ),
        slicer=SingleSlice(),
    )
    return AsyncRetriever(
        creation_requester=job_requester("creation_requester", decoder),
        polling_requester=job_requester("polling_requester", decoder),
        status_extractor=ctx.build(d["status_extractor"], f"{path}.status_extractor"),
        status_mapping=_status_mapping(ctx, d["status_mapping"], f"{path}.status_mapping"),
        download_target_extractor=ctx.build(
            d[target_extractor_key], f"{path}.{target_extractor_key}"
        ),
        download=download,
        slicer=slicer,
        masker=ctx.masker,
        download_target_requester=job_requester(target_requester_key, decoder)
        if target_requester_key
        else None,
        abort_requester=job_requester("abort_requester", decoder),
        delete_requester=job_requester("delete_requester", decoder),
        job_timeout_seconds=_job_timeout_minutes(ctx, d, path) * 60,
    )


@builds("AsyncRetriever")
def async_retriever_elsewhere(ctx: BuildContext, d: dict, path: str) -> Any:
    raise ctx.error(
        "an AsyncRetriever can only be a DeclarativeStream's retriever",
        d,
        None,
        path,
        expected="a SimpleRetriever here",
    )


def _current_or_renamed(ctx: BuildContext, d: dict, key: str, path: str) -> str | None:
    """Which of a field's two names the manifest uses (None: neither); both is an error."""
    old = _RENAMED[key]
    if d.get(key) is not None and d.get(old) is not None:
        raise ctx.error(
            f"{key} and {old} are the same field under its current and its former name",
            d,
            old,
            path,
            expected=f"only {key}",
        )
    if d.get(key) is not None:
        return key
    return old if d.get(old) is not None else None


def _status_mapping(ctx: BuildContext, d: dict, path: str) -> dict[str, JobStatus]:
    """API status word -> job status; a word listed under two statuses is an error."""
    mapping: dict[str, JobStatus] = {}
    for status in JobStatus:
        for word in d.get(status.value) or ():
            key = str(word)
            if key in mapping:
                raise ctx.error(
                    f"the API status {key!r} is listed under both {mapping[key].value} "
                    f"and {status.value}",
                    d,
                    status.value,
                    path,
                    expected="each API status under one job status",
                )
            mapping[key] = status
    return mapping


def _job_timeout_minutes(ctx: BuildContext, d: dict, path: str) -> float:
    minutes = ctx.number(d, "polling_job_timeout", path, DEFAULT_JOB_TIMEOUT_MINUTES)
    if minutes is None or minutes <= 0:
        raise ctx.error(
            f"polling_job_timeout must be a positive number of minutes, found {minutes!r}",
            d,
            "polling_job_timeout",
            path,
            expected="e.g. polling_job_timeout: 60",
        )
    return minutes
