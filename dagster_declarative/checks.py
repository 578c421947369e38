"""The schema check as a Dagster asset check (``check_schema=True``), judged by the engine's
:class:`SchemaCheck` in the asset's own op. Dagster plans it once per partition of a run, and an
``AssetCheckResult`` cannot say which partition it judges (Dagster gives it the run's single
partition, or none in a range run), so each unit's evaluation is built here, pointing at its
partition's materialization. It is opt-in: each evaluation is one more Dagster event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from engine import SchemaVerdict

SCHEMA_CHECK_NAME = "records_match_schema"


def schema_check_spec(
    key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetCheckSpec:
    """The check, partitioned as its asset is: Dagster then shows its status per partition and
    keeps each partition's latest evaluation as that partition's (unpartitioned, the check's one
    status would be that of whichever partition a run evaluated last)."""
    return dg.AssetCheckSpec(
        SCHEMA_CHECK_NAME,
        asset=key,
        description="Every record read conforms to the stream's JSON schema.",
        partitions_def=partitions_def,
    )


def evaluation(
    verdict: SchemaVerdict,
    key: dg.AssetKey,
    partition: str | None,
    target: AssetCheckEvaluationTargetMaterializationData | None,
) -> dg.AssetCheckEvaluation:
    """A unit's verdict as the check's evaluation of its partition."""
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=SCHEMA_CHECK_NAME,
        passed=verdict.violations == 0,
        metadata={
            "records_checked": verdict.records,
            "violations": verdict.violations,
            "examples": dg.MetadataValue.json(verdict.examples),
        },
        target_materialization_data=target,
        blocking=False,  # as schema_check_spec declares
        partition=partition,
    )


def check_output_name(context: dg.AssetExecutionContext) -> str:
    """The op output of the asset's schema check (a stream's asset cannot run without its check:
    it does not subset, so the check is always selected)."""
    key = dg.AssetCheckKey(context.asset_key, SCHEMA_CHECK_NAME)
    return context.assets_def.get_output_name_for_asset_check_key(key)


def evaluations(
    context: dg.AssetExecutionContext, verdicts: Sequence[tuple[str | None, SchemaVerdict]]
) -> Iterator[dg.AssetCheckEvaluation]:
    """Each unit's verdict as its partition's evaluation, targeting the materialization this run
    just recorded for that partition: Dagster counts a partition's check as current (passed or
    failed in the UI) only when it targets the partition's latest materialization. One query for
    all of them; the materializations were stored when they were yielded."""
    key = context.asset_key
    partitions = [partition for partition, _ in verdicts if partition is not None]
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions or None),
        limit=len(verdicts),
    ).records
    targets = {
        record.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        for record in reversed(records)  # newest last, so it wins
        if record.run_id == context.run.run_id
    }
    for partition, verdict in verdicts:
        yield evaluation(verdict, key, partition, targets.get(partition))
