"""deliver's I/O: the circuit table, the archive bucket, the secret and the downstream endpoint.

boto3 clients are created on first use (importing the handler opens nothing) and may be
injected; the HTTP pool is module-level so warm invocations reuse its connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import urllib3
from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.aws_errors import (
    error_code,
    s3_errors_translated,
    transient_errors_translated,
)
from functions._shared.clients import LazyClient
from functions._shared.dynamodb import CONDITIONAL_CHECK_FAILED
from functions._shared.errors import ConfigurationError
from functions._shared.http_client import describe_error, lambda_pool, read_capped
from functions._shared.json_secret import secret_field
from functions.deliver.circuit import BreakerPolicy, CircuitRecord, CircuitState
from functions.deliver.core import (
    MAX_RESPONSE_EXCERPT,
    DownstreamResponse,
    DownstreamUnavailableError,
    OpenedBundle,
    Readable,
)

# -- circuit table ---------------------------------------------------------------------------

_STATE: Final = "state"
_FAILURES: Final = "consecutiveFailures"
_OPENED_AT: Final = "openedAt"
_PROBE_OWNER: Final = "probeOwner"
_PROBE_CLAIMED_AT: Final = "probeClaimedAt"
_VERSION: Final = "version"

# Every attribute goes through a placeholder: "state" is a DynamoDB reserved word, and one
# spelling for all keeps the expressions readable.
_NAMES: Final = {
    "#id": names.CIRCUIT_KEY,
    "#state": _STATE,
    "#failures": _FAILURES,
    "#openedAt": _OPENED_AT,
    "#probeOwner": _PROBE_OWNER,
    "#probeClaimedAt": _PROBE_CLAIMED_AT,
    "#version": _VERSION,
}

_OWNS_PROBE: Final = "#state = :halfOpen AND #probeOwner = :owner"


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoDbCircuitStore:
    """:class:`~functions.deliver.circuit.CircuitStore` on a table keyed by ``circuitId``.

    Each method is one ``GetItem`` (strongly consistent) or one conditional ``UpdateItem``,
    whose condition is the rule of the same method in :class:`~functions.deliver.circuit.
    InMemoryCircuitStore`.

    Example::

        store = DynamoDbCircuitStore("stepflow-dev-circuit")
        breaker = CircuitBreaker(store, BreakerPolicy(), circuit_id="downstream")
        breaker.check(now=int(time.time())).to_payload()
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def read(self, circuit_id: str) -> CircuitRecord:
        with transient_errors_translated(f"read of circuit {circuit_id} in {self.table_name}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key={names.CIRCUIT_KEY: _s(circuit_id)},
                ConsistentRead=True,
            )
        return record_from_item(circuit_id, response.get("Item"))

    def claim_probe(self, seen: CircuitRecord, owner: str, now: int, policy: BreakerPolicy) -> bool:
        values: dict[str, Any] = {
            ":halfOpen": _s(CircuitState.HALF_OPEN),
            ":owner": _s(owner),
            ":now": _n(now),
            ":seenState": _s(seen.state),
            ":seenVersion": _n(seen.version),
            ":next": _n(seen.version + 1),
        }
        # A record written without a version (by hand) reads as version 0.
        version = (
            "(attribute_not_exists(#version) OR #version = :seenVersion)"
            if seen.version == 0
            else "#version = :seenVersion"
        )
        if seen.state is CircuitState.OPEN:
            values[":dueBy"] = _n(now - policy.cooldown_seconds)
            due = "(attribute_not_exists(#openedAt) OR #openedAt <= :dueBy)"
        else:
            values[":staleBy"] = _n(now - policy.probe_stale_seconds)
            due = "(attribute_not_exists(#probeClaimedAt) OR #probeClaimedAt <= :staleBy)"
        return self._update(
            seen.circuit_id,
            "SET #state = :halfOpen, #probeOwner = :owner, #probeClaimedAt = :now,"
            " #version = :next",
            f"attribute_exists(#id) AND #state = :seenState AND {version} AND {due}",
            values,
            action=f"probe claim by {owner}",
        )

    def add_failure(self, circuit_id: str) -> int | None:
        attributes = self._update_returning(
            circuit_id,
            "SET #state = if_not_exists(#state, :closed), #version = if_not_exists(#version, :zero)"
            " ADD #failures :one",
            "attribute_not_exists(#state) OR #state = :closed",
            {":closed": _s(CircuitState.CLOSED), ":zero": _n(0), ":one": _n(1)},
            action="failure count",
        )
        return None if attributes is None else int(attributes[_FAILURES]["N"])

    def trip(self, circuit_id: str, now: int, threshold: int) -> bool:
        return self._update(
            circuit_id,
            "SET #state = :open, #openedAt = :now, #version = #version + :one"
            " REMOVE #probeOwner, #probeClaimedAt",
            "#state = :closed AND #failures >= :threshold",
            {
                ":open": _s(CircuitState.OPEN),
                ":closed": _s(CircuitState.CLOSED),
                ":now": _n(now),
                ":one": _n(1),
                ":threshold": _n(threshold),
            },
            action="opening",
        )

    def reset_failures(self, circuit_id: str) -> bool:
        return self._update(
            circuit_id,
            "SET #failures = :zero",
            "#state = :closed",
            {":closed": _s(CircuitState.CLOSED), ":zero": _n(0)},
            action="failure reset",
        )

    def close_probe(self, circuit_id: str, owner: str) -> bool:
        return self._update(
            circuit_id,
            "SET #state = :closed, #failures = :zero, #version = #version + :one"
            " REMOVE #openedAt, #probeOwner, #probeClaimedAt",
            _OWNS_PROBE,
            {
                ":closed": _s(CircuitState.CLOSED),
                ":halfOpen": _s(CircuitState.HALF_OPEN),
                ":owner": _s(owner),
                ":zero": _n(0),
                ":one": _n(1),
            },
            action=f"closing by probe {owner}",
        )

    def reopen_probe(self, circuit_id: str, owner: str, now: int) -> bool:
        return self._update(
            circuit_id,
            "SET #state = :open, #openedAt = :now, #version = #version + :one"
            " ADD #failures :one REMOVE #probeOwner, #probeClaimedAt",
            _OWNS_PROBE,
            {
                ":open": _s(CircuitState.OPEN),
                ":halfOpen": _s(CircuitState.HALF_OPEN),
                ":owner": _s(owner),
                ":now": _n(now),
                ":one": _n(1),
            },
            action=f"re-opening by probe {owner}",
        )

    def release_probe(self, circuit_id: str, owner: str) -> bool:
        return self._update(
            circuit_id,
            "SET #state = :open, #version = #version + :one REMOVE #probeOwner, #probeClaimedAt",
            _OWNS_PROBE,
            {
                ":open": _s(CircuitState.OPEN),
                ":halfOpen": _s(CircuitState.HALF_OPEN),
                ":owner": _s(owner),
                ":one": _n(1),
            },
            action=f"probe release by {owner}",
        )

    def _update(
        self, circuit_id: str, expression: str, condition: str, values: dict[str, Any], action: str
    ) -> bool:
        return self._update_returning(circuit_id, expression, condition, values, action) is not None

    def _update_returning(
        self, circuit_id: str, expression: str, condition: str, values: dict[str, Any], action: str
    ) -> dict[str, Any] | None:
        """The updated attributes, or ``None`` when the condition did not hold."""
        used = expression + " " + condition
        with transient_errors_translated(f"{action} on circuit {circuit_id} in {self.table_name}"):
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key={names.CIRCUIT_KEY: _s(circuit_id)},
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    # DynamoDB rejects placeholders an expression does not use.
                    ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
            except ClientError as error:
                if error_code(error) == CONDITIONAL_CHECK_FAILED:
                    return None
                raise
        return dict(response.get("Attributes", {}))


def record_from_item(circuit_id: str, item: dict[str, Any] | None) -> CircuitRecord:
    """A stored item as a :class:`CircuitRecord`; no item is a fresh ``CLOSED`` circuit.

    >>> record_from_item("downstream", {"circuitId": {"S": "downstream"},
    ...     "state": {"S": "OPEN"}, "consecutiveFailures": {"N": "5"},
    ...     "openedAt": {"N": "1700000000"}, "version": {"N": "3"}})
    ... # doctest: +NORMALIZE_WHITESPACE
    CircuitRecord(circuit_id='downstream', state=<CircuitState.OPEN: 'OPEN'>,
                  consecutive_failures=5, opened_at=1700000000, probe_owner=None,
                  probe_claimed_at=None, version=3)
    """
    if not item:
        return CircuitRecord(circuit_id)

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else None

    raw_state = text(_STATE) or CircuitState.CLOSED.value
    try:
        state = CircuitState(raw_state)
    except ValueError:
        raise ConfigurationError(
            f"circuit {circuit_id} has state {raw_state!r}; expected one of "
            + ", ".join(CircuitState)
        ) from None
    return CircuitRecord(
        circuit_id=circuit_id,
        state=state,
        consecutive_failures=number(_FAILURES) or 0,
        opened_at=number(_OPENED_AT),
        probe_owner=text(_PROBE_OWNER),
        probe_claimed_at=number(_PROBE_CLAIMED_AT),
        version=number(_VERSION) or 0,
    )


# -- archive bucket --------------------------------------------------------------------------


class S3BundleSource:
    """:class:`~functions.deliver.core.BundleSource` reading the archive bucket.

    The body is returned unread: the HTTP client pulls it in blocks while sending, so memory
    stays flat however large the bundle.

    Example::

        opened = S3BundleSource().open("stepflow-dev-archive", "bundles/ab/ab12.ndjson.gz")
        opened.stream.read(65_536), opened.length
    """

    client = LazyClient(
        "s3", {"connect_timeout": 3, "read_timeout": 20, "retries": {"mode": "standard"}}
    )

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    def open(self, bucket: str, key: str) -> OpenedBundle:
        with s3_errors_translated(f"read of s3://{bucket}/{key}"):
            response = self.client.get_object(Bucket=bucket, Key=key)
        length = response.get("ContentLength")
        return OpenedBundle(
            stream=response["Body"], length=int(length) if length is not None else None
        )


# -- secret ----------------------------------------------------------------------------------


class SecretTokenSource:
    """:class:`~functions.deliver.core.TokenSource` from a Secrets Manager secret holding
    ``{"token": "..."}``, through Powertools Parameters (cached for ``max_age_seconds``).

    Messages never include the secret's value.

    Example::

        SecretTokenSource("stepflow-dev-downstream").token()
    """

    def __init__(self, secret_name: str, max_age_seconds: int = 300) -> None:
        self.secret_name = secret_name
        self.max_age_seconds = max_age_seconds
        self._forgotten = False

    def token(self, *, refresh: bool = False) -> str:
        token = secret_field(
            self.secret_name,
            "token",
            max_age_seconds=self.max_age_seconds,
            refresh=refresh or self._forgotten,
        )
        self._forgotten = False
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n"):
            raise ConfigurationError(
                f'secret {self.secret_name} must be {{"token": "<one line of text>"}}'
            )
        return token

    def forget(self) -> None:
        # Powertools keeps the value per process; the next read fetches past it.
        self._forgotten = True


# -- downstream endpoint ---------------------------------------------------------------------

# No retries here: the body is a stream that cannot be rewound, and the workflow retries with
# backoff.
_POOL: Final = lambda_pool()
_BLOCK_SIZE: Final = 64 * 1024
_USER_AGENT: Final = "stepflow-deliver/1"


class HttpDownstream:
    """:class:`~functions.deliver.core.Downstream` over HTTP(S) with urllib3.

    ``connect_timeout`` bounds the TCP/TLS connect, ``read_timeout`` each wait for the server
    (sending blocks and waiting for the answer). Both must fit, with the archive read, inside
    the Lambda's timeout, which in turn must stay under the breaker's ``probe_stale_seconds``.

    Example::

        downstream = HttpDownstream("https://nifi.example.com/ingest", connect_timeout=3,
                                    read_timeout=20)
        response = downstream.post(stream, length=1234, idempotency_key=sha256, token=token)
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 20.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.url = url
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = pool or _POOL

    def post(
        self, body: Readable, *, length: int | None, idempotency_key: str, token: str
    ) -> DownstreamResponse:
        headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "Idempotency-Key": idempotency_key,
            "Authorization": f"Bearer {token}",
            "User-Agent": _USER_AGENT,
        }
        if length is not None:
            # Without it urllib3 sends the stream chunked, which some ingest endpoints refuse.
            headers["Content-Length"] = str(length)
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=_blocks(body),
                headers=headers,
                timeout=self.timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise DownstreamUnavailableError(describe_error(error)) from error
        return DownstreamResponse(status=response.status, excerpt=_excerpt(response))


def _blocks(body: Readable) -> Iterator[bytes]:
    """The stream as 64 KiB blocks: at most one block of the bundle is in memory at a time."""
    while block := body.read(_BLOCK_SIZE):
        yield block


def _excerpt(response: urllib3.BaseHTTPResponse) -> str:
    """The start of the body, for messages."""
    try:
        data = read_capped(response, MAX_RESPONSE_EXCERPT, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError):
        # The status has arrived, and it is what matters; the body is only for messages.
        return ""
    return data[:MAX_RESPONSE_EXCERPT].decode("utf-8", errors="replace")
