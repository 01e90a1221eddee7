"""The DynamoDB side of dedupe: one conditional ``PutItem`` per event id."""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.aws_errors import error_code, transient_errors_translated
from functions._shared.clients import LazyClient
from functions._shared.dynamodb import CONDITIONAL_CHECK_FAILED
from functions.dedupe.core import Claim

_FIRST_SEEN_ATTRIBUTE: Final = "firstSeenAt"
_TRACKING_ID_ATTRIBUTE: Final = "trackingId"

# The whole dedupe rule in one atomic condition (see core.claim_is_available), so two racing
# executions can never both win the same event id.
_CLAIM_CONDITION: Final = (
    f"attribute_not_exists({names.DEDUPE_KEY})"
    f" OR {names.DEDUPE_EXPIRY_ATTRIBUTE} < :now"
    f" OR {_TRACKING_ID_ATTRIBUTE} = :trackingId"
)


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
                    ConditionExpression=_CLAIM_CONDITION,
                    ExpressionAttributeValues={
                        ":now": {"N": str(now_epoch)},
                        ":trackingId": {"S": claim.tracking_id},
                    },
                )
            except ClientError as error:
                if error_code(error) == CONDITIONAL_CHECK_FAILED:
                    return False
                raise
        return True
