"""The DynamoDB side of dedupe: one conditional ``PutItem`` per event id, and, for a claim held
by another tracking id, a read of the holder's status record."""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.aws_errors import error_code, transient_errors_translated
from functions._shared.clients import LazyClient
from functions._shared.dynamodb import CONDITIONAL_CHECK_FAILED, from_item
from functions._shared.status import TERMINAL_ATTRIBUTE, Status
from functions.dedupe.core import Claim, HolderState, rejected_whole

_FIRST_SEEN_ATTRIBUTE: Final = "firstSeenAt"
_TRACKING_ID_ATTRIBUTE: Final = "trackingId"

# The whole dedupe rule in one atomic condition (see core.claim_is_available), so two racing
# executions can never both win the same event id.
_CLAIM_CONDITION: Final = (
    f"attribute_not_exists({names.DEDUPE_KEY})"
    f" OR {names.DEDUPE_EXPIRY_ATTRIBUTE} < :now"
    f" OR {_TRACKING_ID_ATTRIBUTE} = :trackingId"
)
_TAKE_OVER_CONDITION: Final = f"{_TRACKING_ID_ATTRIBUTE} = :previousHolder"


class DynamoDbClaimStore:
    """:class:`~functions.dedupe.core.ClaimStore` on a DynamoDB table keyed by ``eventId``.

    ``client`` is a boto3 DynamoDB client; by default one is created on first use, so that
    importing the handler opens no connection and tests can inject their own.

    Example::

        store = DynamoDbClaimStore("stepflow-dev-dedupe")
        store.claim(new_claim("e-1", "trk-1", now, 604_800), int(now.timestamp()))
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def claim(self, claim: Claim, now_epoch: int) -> bool:
        return self._put(
            claim,
            _CLAIM_CONDITION,
            {":now": {"N": str(now_epoch)}, ":trackingId": {"S": claim.tracking_id}},
        )

    def holder(self, event_id: str) -> str | None:
        with transient_errors_translated(f"read of claim {event_id} in table {self.table_name}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key={names.DEDUPE_KEY: {"S": event_id}},
                ConsistentRead=True,
            )
        holder = response.get("Item", {}).get(_TRACKING_ID_ATTRIBUTE, {}).get("S")
        return str(holder) if holder is not None else None

    def take_over(self, claim: Claim, previous_holder: str) -> bool:
        return self._put(claim, _TAKE_OVER_CONDITION, {":previousHolder": {"S": previous_holder}})

    def _put(self, claim: Claim, condition: str, values: dict[str, Any]) -> bool:
        with transient_errors_translated(f"claim of {claim.event_id} in table {self.table_name}"):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        names.DEDUPE_KEY: {"S": claim.event_id},
                        names.DEDUPE_EXPIRY_ATTRIBUTE: {"N": str(claim.expires_at)},
                        _TRACKING_ID_ATTRIBUTE: {"S": claim.tracking_id},
                        _FIRST_SEEN_ATTRIBUTE: {"S": claim.first_seen_at},
                    },
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if error_code(error) == CONDITIONAL_CHECK_FAILED:
                    return False
                raise
        return True


class DynamoDbHolderStatuses:
    """:class:`~functions.dedupe.core.HolderStatuses` reading the status table.

    Example::

        DynamoDbHolderStatuses("stepflow-dev-status").state_of("trk-1")
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def state_of(self, tracking_id: str) -> HolderState | None:
        with transient_errors_translated(f"read of status {tracking_id} in {self.table_name}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key={names.STATUS_KEY: {"S": tracking_id}},
                ConsistentRead=True,
                ProjectionExpression="#status, #terminal, #rejected",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#terminal": TERMINAL_ATTRIBUTE,
                    "#rejected": "rejected",
                },
            )
        item = response.get("Item")
        if not item:
            return None
        raw_status = item.get("status", {}).get("S")
        status = Status(raw_status) if raw_status in Status.__members__ else None
        rejections = from_item(item)["rejected"] if "rejected" in item else []
        return HolderState(
            status,
            terminal=item.get(TERMINAL_ATTRIBUTE, {}).get("BOOL") is True,
            rejected_whole=rejected_whole(rejections if isinstance(rejections, list) else []),
        )
