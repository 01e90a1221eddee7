"""The DynamoDB side of update_status: one conditional ``UpdateItem`` per status write."""

from __future__ import annotations

from typing import Any, Final

import boto3
from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.dynamodb import (
    CONDITIONAL_CHECK_FAILED,
    error_code,
    from_item,
    to_attribute_value,
    transient_errors_translated,
)
from functions.update_status.core import RANK_ATTRIBUTE, StatusOutcome, StatusWrite, public_record

# Only a strictly higher rank may write, checked by DynamoDB itself: a late or repeated update
# can never move a record backwards, however writers race.
_FORWARD_ONLY_CONDITION: Final = "attribute_not_exists(#trackingId) OR #statusRank < :statusRank"


class DynamoDbStatusStore:
    """:class:`~functions.update_status.core.StatusStore` on a table keyed by ``trackingId``.

    ``client`` is a boto3 DynamoDB client; by default one is created on first use.

    Example::

        store = DynamoDbStatusStore("stepflow-dev-status")
        outcome = store.write(plan_write(update, now))
    """

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

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

        set_clauses = [f"#{name} = :{name}" for name in assignments]
        set_clauses.append("#createdAt = if_not_exists(#createdAt, :updatedAt)")
        # Only applied writes append, and their ranks strictly rise: one entry per rank at most.
        set_clauses.append("#history = list_append(if_not_exists(#history, :noHistory), :step)")
        expression = "SET " + ", ".join(set_clauses)
        if write.reason is None:
            expression += " REMOVE #reason"

        attribute_names = {f"#{name}": name for name in assignments}
        attribute_names |= {
            "#trackingId": names.STATUS_KEY,
            "#createdAt": "createdAt",
            "#history": "history",
            "#reason": "reason",
            "#statusRank": RANK_ATTRIBUTE,
        }
        attribute_values = {
            f":{name}": to_attribute_value(value) for name, value in assignments.items()
        }
        attribute_values |= {
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
                    ConditionExpression=_FORWARD_ONLY_CONDITION,
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
