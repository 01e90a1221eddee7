"""The DynamoDB side of update_status: one conditional write per status, in the status table
or, for enrichments, in the enrichment table."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.aws_errors import error_code, transient_errors_translated
from functions._shared.clients import LazyClient
from functions._shared.dynamodb import CONDITIONAL_CHECK_FAILED, from_item, to_attribute_value
from functions._shared.enrichment import batch_id_prefix, public_row, summary_id
from functions._shared.status import (
    ARCHIVE_KEY_ATTRIBUTE,
    EXECUTION_ARN_ATTRIBUTE,
    RANK_ATTRIBUTE,
    TERMINAL_ATTRIBUTE,
    forward_only,
    public_record,
)
from functions.update_status.core import StatusOutcome, StatusWrite
from functions.update_status.enrichment import (
    BatchRowWrite,
    BatchTotals,
    EnrichmentOutcome,
    SummaryWrite,
)


class DynamoDbStatusStore:
    """:class:`~functions.update_status.core.StatusStore` on a table keyed by ``trackingId``.

    ``client`` is a boto3 DynamoDB client; by default one is created on first use.

    Example::

        store = DynamoDbStatusStore("stepflow-dev-status")
        outcome = store.write(plan_write(update, now))
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def write(self, write: StatusWrite) -> StatusOutcome:
        # Counts and lists are SET from the envelope, never added to, so a retried write
        # stores the same values instead of counting twice.
        assignments: dict[str, Any] = {
            "status": write.status.value,
            RANK_ATTRIBUTE: write.rank,
            "counts": write.counts,
            "rejected": write.rejected,
            "rejectedTotal": write.rejected_total,
            "duplicates": write.duplicates,
            "duplicatesTotal": write.duplicates_total,
            "updatedAt": write.at,
        }
        if write.reason is not None:
            assignments["reason"] = write.reason
        if write.source is not None:
            assignments["source"] = write.source
        if write.archive_key is not None:
            assignments[ARCHIVE_KEY_ATTRIBUTE] = write.archive_key
        if write.terminal:
            assignments[TERMINAL_ATTRIBUTE] = True
        if write.execution_arn is not None:
            assignments[EXECUTION_ARN_ATTRIBUTE] = write.execution_arn

        set_clauses = [f"#{name} = :{name}" for name in assignments]
        set_clauses.append("#createdAt = if_not_exists(#createdAt, :updatedAt)")
        # Only applied writes append, and their ranks strictly rise: one entry per rank at most.
        set_clauses.append("#history = list_append(if_not_exists(#history, :noHistory), :step)")
        expression = "SET " + ", ".join(set_clauses)
        if write.reason is None:
            expression += " REMOVE #reason"

        rule = forward_only(names.STATUS_KEY, write.rank)
        attribute_names = {f"#{name}": name for name in assignments}
        attribute_names |= rule.names | {
            "#createdAt": "createdAt",
            "#history": "history",
            "#reason": "reason",
        }
        attribute_values = {
            f":{name}": to_attribute_value(value) for name, value in assignments.items()
        }
        attribute_values |= rule.values | {
            ":noHistory": to_attribute_value([]),
            ":step": to_attribute_value([{"status": write.status.value, "at": write.at}]),
        }

        with transient_errors_translated(
            f"status {write.status} for {write.tracking_id} in table {self.table_name}"
        ):
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key={names.STATUS_KEY: {"S": write.tracking_id}},
                    UpdateExpression=expression,
                    ConditionExpression=rule.condition,
                    ExpressionAttributeNames=attribute_names,
                    ExpressionAttributeValues=attribute_values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != CONDITIONAL_CHECK_FAILED:
                    raise
                stored = error.response.get("Item") or self._read(write.tracking_id)
                return StatusOutcome(
                    record=public_record(from_item(stored)), applied=False, requested=write.status
                )
        return StatusOutcome(
            record=public_record(from_item(response["Attributes"])),
            applied=True,
            requested=write.status,
        )

    def _read(self, tracking_id: str) -> dict[str, Any]:
        response = self.client.get_item(
            TableName=self.table_name,
            Key={names.STATUS_KEY: {"S": tracking_id}},
            ConsistentRead=True,
        )
        return dict(response.get("Item", {}))


class DynamoDbEnrichmentStore:
    """:class:`~functions.update_status.enrichment.EnrichmentStore` on the enrichment table
    (partition key ``catalogId``, sort key ``batchId``).

    Example::

        store = DynamoDbEnrichmentStore("stepflow-dev-enrichment-status")
        outcome = record_enrichment(update, store, now)
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def write_batch(self, write: BatchRowWrite) -> EnrichmentOutcome:
        item = write.item()
        rule = forward_only(names.ENRICHMENT_SORT_KEY, write.rank)
        with transient_errors_translated(
            f"batch {write.batch_id} {write.status} in table {self.table_name}"
        ):
            try:
                # The whole row at once: its counts are SET, so a retry stores the same values.
                self.client.put_item(
                    TableName=self.table_name,
                    Item={name: to_attribute_value(value) for name, value in item.items()},
                    ConditionExpression=rule.condition,
                    ExpressionAttributeNames=rule.names,
                    ExpressionAttributeValues=rule.values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != CONDITIONAL_CHECK_FAILED:
                    raise
                stored = error.response.get("Item") or self._get(
                    _row_key(write.catalog_id, write.batch_id)
                )
                return EnrichmentOutcome(
                    record=public_row(from_item(stored)), applied=False, requested=write.status
                )
        return EnrichmentOutcome(record=public_row(item), applied=True, requested=write.status)

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        with transient_errors_translated(
            f"read of the summary of {tracking_id} in table {self.table_name}"
        ):
            item = self._get(_row_key(catalog_id, summary_id(tracking_id)))
        return from_item(item) if item else None

    def batch_totals(self, catalog_id: str, tracking_id: str) -> BatchTotals:
        batches = enriched = failed = 0
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#catalogId = :catalogId AND begins_with(#batchId, :prefix)",
            "ProjectionExpression": "#enriched, #failed",
            "ExpressionAttributeNames": {
                "#catalogId": names.ENRICHMENT_KEY,
                "#batchId": names.ENRICHMENT_SORT_KEY,
                "#enriched": "enriched",
                "#failed": "failed",
            },
            "ExpressionAttributeValues": {
                ":catalogId": {"S": catalog_id},
                ":prefix": {"S": batch_id_prefix(tracking_id)},
            },
            # Every batch row written before this read counts: the final counts are exact.
            "ConsistentRead": True,
        }
        with transient_errors_translated(
            f"sum of the batches of {tracking_id} in table {self.table_name}"
        ):
            while True:
                response = self.client.query(**request)
                for row in response.get("Items", []):
                    plain = from_item(row)
                    batches += 1
                    enriched += int(plain.get("enriched", 0))
                    failed += int(plain.get("failed", 0))
                next_key = response.get("LastEvaluatedKey")
                if not next_key:
                    break
                request["ExclusiveStartKey"] = next_key
        return BatchTotals(batches=batches, enriched=enriched, failed=failed)

    def write_summary(self, write: SummaryWrite) -> EnrichmentOutcome:
        assignments: dict[str, Any] = {
            "trackingId": write.tracking_id,
            "status": write.status.value,
            RANK_ATTRIBUTE: write.rank,
            "updatedAt": write.at,
        }
        if write.total_products is not None:
            assignments["totalProducts"] = write.total_products
        if write.total_batches is not None:
            assignments["totalBatches"] = write.total_batches
        if write.totals is not None:
            assignments |= {
                "batchesDone": write.totals.batches,
                "productsEnriched": write.totals.enriched,
                "productsFailed": write.totals.failed,
            }
        if write.is_final:
            assignments["finishedAt"] = write.at

        placeholders = {name: f"a{position}" for position, name in enumerate(assignments)}
        set_clauses = [f"#{placeholders[name]} = :{placeholders[name]}" for name in assignments]
        set_clauses.append("#createdAt = if_not_exists(#createdAt, :at)")
        set_clauses.append("#history = list_append(if_not_exists(#history, :noHistory), :step)")
        if write.reason is not None:
            set_clauses.append("#reason = :reason")
        expression = "SET " + ", ".join(set_clauses)
        if write.reason is None:
            # A reason holds only while its status stands.
            expression += " REMOVE #reason"

        rule = forward_only(names.ENRICHMENT_SORT_KEY, write.rank)
        attribute_names = {f"#{placeholders[name]}": name for name in assignments}
        attribute_names |= rule.names | {
            "#createdAt": names.ENRICHMENT_CREATED_KEY,
            "#history": "history",
            "#reason": "reason",
        }
        attribute_values = {
            f":{placeholders[name]}": to_attribute_value(value)
            for name, value in assignments.items()
        }
        attribute_values |= rule.values | {
            ":at": to_attribute_value(write.at),
            ":noHistory": to_attribute_value([]),
            ":step": to_attribute_value([{"status": write.status.value, "at": write.at}]),
        }
        if write.reason is not None:
            attribute_values[":reason"] = to_attribute_value(write.reason)
        key = _row_key(write.catalog_id, summary_id(write.tracking_id))
        with transient_errors_translated(
            f"summary {write.status} of {write.tracking_id} in table {self.table_name}"
        ):
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression=expression,
                    ConditionExpression=rule.condition,
                    ExpressionAttributeNames=attribute_names,
                    ExpressionAttributeValues=attribute_values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != CONDITIONAL_CHECK_FAILED:
                    raise
                stored = error.response.get("Item") or self._get(key)
                return EnrichmentOutcome(
                    record=public_row(from_item(stored)), applied=False, requested=write.status
                )
        return EnrichmentOutcome(
            record=public_row(from_item(response["Attributes"])),
            applied=True,
            requested=write.status,
        )

    def _get(self, key: dict[str, Any]) -> dict[str, Any]:
        response = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        return dict(response.get("Item", {}))


def _row_key(catalog_id: str, row_id: str) -> dict[str, Any]:
    return {names.ENRICHMENT_KEY: {"S": catalog_id}, names.ENRICHMENT_SORT_KEY: {"S": row_id}}
