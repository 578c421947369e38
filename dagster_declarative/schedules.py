"""Jobs and schedules: a named job per stream, and a schedule for every stream that has a
natural cadence.

- date windows with a calendar or cron cadence: the latest closed window, each time one closes;
- date windows listed by their start (steps no cron ticks): each tick runs the running window,
  and the one before it when it closed since the last tick, in one run;
- list partitions: every value, in one run;
- unpartitioned streams with a cursor: ``incremental_cron``, resuming from the state table.

Jobs are named ``<source>__<stream>_job``, so the Runs page says which source and stream ran
(schedules and the example launch them; the UI's "Materialize" button still launches Dagster's
own asset job).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def job_name(key: dg.AssetKey) -> str:
    return "__".join(key.path) + "_job"


def build_stream_jobs(
    assets: Sequence[dg.AssetsDefinition],
) -> dict[dg.AssetKey, dg.UnresolvedAssetJobDefinition]:
    """One job per stream asset (its partitions come from the asset)."""
    return {
        asset.key: dg.define_asset_job(
            job_name(asset.key),
            selection=[asset.key],
            description=f"Syncs stream {asset.key.path[-1]!r} of source {asset.key.path[0]!r}.",
        )
        for asset in assets
    }


def build_stream_schedules(
    assets: Sequence[dg.AssetsDefinition],
    *,
    incremental_cron: str = "0 * * * *",
    list_cron: str = "0 0 * * *",
    jobs: Mapping[dg.AssetKey, dg.UnresolvedAssetJobDefinition] | None = None,
) -> list[dg.ScheduleDefinition]:
    """One schedule per stream asset that has a cadence (see the module doc), each stopped
    until turned on."""
    jobs = jobs if jobs is not None else build_stream_jobs(assets)
    schedules: list[dg.ScheduleDefinition] = []
    for asset in assets:
        key, partitions_def = asset.key, asset.partitions_def
        slicer = asset.metadata_by_key[key].get("declarative/slicer")
        job = jobs[key]
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            schedules.append(dg.build_schedule_from_partitioned_job(job))
        elif isinstance(partitions_def, dg.StaticPartitionsDefinition) and slicer == "datetime":
            schedules.append(_listed_windows_schedule(job, partitions_def))
        elif isinstance(partitions_def, dg.StaticPartitionsDefinition):
            schedules.append(_every_value_schedule(job, partitions_def, list_cron))
        elif partitions_def is None and asset.metadata_by_key[key].get("declarative/cursor_field"):
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{'__'.join(key.path)}_schedule", cron_schedule=incremental_cron, job=job
                )
            )
    return schedules


def _range(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


def _every_value_schedule(
    job: dg.UnresolvedAssetJobDefinition, partitions_def: dg.StaticPartitionsDefinition, cron: str
) -> dg.ScheduleDefinition:
    keys = partitions_def.get_partition_keys()

    @dg.schedule(name=f"{job.name.removesuffix('_job')}_schedule", cron_schedule=cron, job=job)
    def _schedule(_context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(tags=_range(keys[0], keys[-1]))

    return _schedule


def _listed_windows_schedule(
    job: dg.UnresolvedAssetJobDefinition, partitions_def: dg.StaticPartitionsDefinition
) -> dg.ScheduleDefinition:
    keys = partitions_def.get_partition_keys()
    starts = [_as_utc(dt.datetime.fromisoformat(key)) for key in keys]
    daily = all(len(key) == len("2024-01-01") for key in keys)
    tick = dt.timedelta(days=1) if daily else dt.timedelta(hours=1)

    @dg.schedule(
        name=f"{job.name.removesuffix('_job')}_schedule",
        cron_schedule="0 0 * * *" if daily else "0 * * * *",
        job=job,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        now = _as_utc(context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc))
        started = [i for i, start in enumerate(starts) if start <= now]
        if not started:
            return dg.SkipReason(f"the first window starts at {keys[0]}")
        running = started[-1]
        first = running - 1 if running and starts[running] > now - tick else running
        return dg.RunRequest(tags=_range(keys[first], keys[running]))

    return _schedule


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
