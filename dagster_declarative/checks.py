"""The schema check as a Dagster asset check: do a stream's records conform to the JSON schema its
manifest declares? The engine's :class:`SchemaCheck` judges the records in the asset's own op as
they stream past, so the check costs no second read of the API or the warehouse.

Dagster plans the check once per partition of a run (a single-run backfill of a year plans 365
evaluations), so each unit of the run (a partition, or an unpartitioned stream's read) gets its own
verdict, counted from its own records, and its own evaluation. An ``AssetCheckResult`` cannot say
which partition it judges (Dagster gives it the run's single partition, or none in a range run),
so the evaluations are built here, each pointing at its partition's materialization.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from engine import SchemaCheck

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


def has_checkable_schema(json_schema: Mapping[str, Any]) -> bool:
    return bool(json_schema.get("properties"))


@dataclass(frozen=True)
class Verdict:
    """What the schema check found in one unit's records."""

    records: int
    violations: int
    examples: list[str]

    def evaluation(
        self,
        key: dg.AssetKey,
        partition: str | None,
        target: AssetCheckEvaluationTargetMaterializationData | None,
    ) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=key,
            check_name=SCHEMA_CHECK_NAME,
            passed=self.violations == 0,
            metadata={
                "records_checked": self.records,
                "violations": self.violations,
                "examples": dg.MetadataValue.json(self.examples),
            },
            target_materialization_data=target,
            blocking=False,  # as schema_check_spec declares
            partition=partition,
        )


class SchemaChecker(SchemaCheck):
    """The engine's check, judging one unit's records at a time (one compiled schema for all)."""

    def take(self) -> Verdict:
        """The verdict on the records observed since the last take; counting starts afresh."""
        verdict = Verdict(self.records, self.violations, self.examples)
        self.records, self.violations, self.examples = 0, 0, []
        return verdict


def check_output_name(context: dg.AssetExecutionContext) -> str:
    """The op output of the asset's schema check (a stream's asset cannot run without its check:
    it does not subset, so the check is always selected)."""
    key = dg.AssetCheckKey(context.asset_key, SCHEMA_CHECK_NAME)
    return context.assets_def.get_output_name_for_asset_check_key(key)


def evaluations(
    context: dg.AssetExecutionContext, verdicts: Sequence[tuple[str | None, Verdict]]
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
        yield verdict.evaluation(key, partition, targets.get(partition))
