"""Dagster's run machinery, loaded before a scenario's clock starts.

Dagster imports most of what a run needs on a process's first run (some 380 modules: the
executor, the ephemeral instance's storage and its migrations, the event log). The rule of every
scenario is that imports happen before the clock, so the workers of the Dagster scenarios run
one throwaway range run of a daily-partitioned asset first (`Scenario.prepare`); without it, each
side counted those imports in its time, and the 4-run side of `multi_run` once per forked run.
"""

from __future__ import annotations

from pathlib import Path

from bench.multi_run import QUIET


def warm_up(workdir: Path) -> None:
    """One range run of a throwaway daily-partitioned asset, in this process."""
    import dagster as dg

    @dg.asset(
        partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03"),
        backfill_policy=dg.BackfillPolicy.single_run(),
        output_required=False,
    )
    def warm(context):  # unannotated: Dagster resolves hints, and this module defers them
        for key in context.partition_keys:
            yield dg.AssetMaterialization(context.asset_key, partition=key, metadata={"n": 1})

    dg.materialize(
        [warm],
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-02",
        },
    )
