"""The schema check as a Dagster asset check: do a stream's records conform to the JSON schema its
manifest declares? The engine's :class:`SchemaCheck` judges the records in the asset's own op as
they stream past, so the check costs no second read of the API or the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from engine import SchemaCheck

SCHEMA_CHECK_NAME = "records_match_schema"


def schema_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SCHEMA_CHECK_NAME,
        asset=key,
        description="Every record read conforms to the stream's JSON schema.",
    )


def has_checkable_schema(json_schema: Mapping[str, Any]) -> bool:
    return bool(json_schema.get("properties"))


class SchemaChecker(SchemaCheck):
    """The engine's check, reported as the asset check's result."""

    def result(self, key: dg.AssetKey) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=SCHEMA_CHECK_NAME,
            passed=self.violations == 0,
            metadata={
                "records_checked": self.records,
                "violations": self.violations,
                "examples": dg.MetadataValue.json(self.examples),
            },
        )
