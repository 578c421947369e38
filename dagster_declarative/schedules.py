"""Schedules: the latest window of each date-partitioned stream, and a cron for incremental ones."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg


def build_stream_schedules(
    assets: Sequence[dg.AssetsDefinition], *, incremental_cron: str = "0 * * * *"
) -> list[dg.ScheduleDefinition]:
    """One schedule per stream asset that benefits from one.

    Date-partitioned streams get a partitioned-job schedule requesting their last complete window;
    unpartitioned streams with a cursor field re-run on ``incremental_cron`` and resume from the
    state table. Full-refresh and other partitioned streams get none (their runs are chosen).
    """
    schedules = []
    for asset in assets:
        key = asset.key
        name = "__".join(key.path)
        partitions_def = asset.partitions_def
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            job = dg.define_asset_job(f"{name}_job", selection=[key], partitions_def=partitions_def)
            schedules.append(dg.build_schedule_from_partitioned_job(job))
        elif partitions_def is None and asset.metadata_by_key[key].get("declarative/cursor_field"):
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{name}_schedule", cron_schedule=incremental_cron, target=[key]
                )
            )
    return schedules
