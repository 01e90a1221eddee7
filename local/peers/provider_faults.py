"""The enrichment provider's fault model: the controls that make it fail, checked, and the
200 answers that break the contract on purpose."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from local.http_server import TokenBucket
from local.peers.http_peer import ControlError, PeerControls, bounded, integer, number


class GarbageKind(StrEnum):
    """The ways a 200 answer can break the contract (``garbage_kind``; random when unset)."""

    NOT_JSON = "not_json"
    """An HTML error page, as from a misbehaving proxy."""
    TRUNCATED = "truncated"
    """The right answer cut in the middle."""
    WRONG_SHAPE = "wrong_shape"
    """JSON without a ``products`` array."""
    WRONG_TYPES = "wrong_types"
    """Products whose ``price`` and ``salesRank`` are strings."""
    MISSING_FIELDS = "missing_fields"
    """Products without ``title`` and ``price``."""


def garbage_body(
    kind: GarbageKind, found: list[dict[str, Any]], unknown: list[str]
) -> tuple[bytes, str]:
    """A 200 body of ``kind`` for an answer that should have been ``found`` and ``unknown``."""
    if kind is GarbageKind.NOT_JSON:
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
    if kind is GarbageKind.TRUNCATED:
        whole = json.dumps({"products": found, "unknown": unknown}).encode()
        return whole[: max(1, len(whole) // 2)], "application/json"
    if kind is GarbageKind.WRONG_SHAPE:
        document: Any = {"status": "ok", "data": found}
    elif kind is GarbageKind.WRONG_TYPES:
        broken = [
            {
                **product,
                "price": f"{_amount(product)} EUR",
                "salesRank": str(product.get("salesRank")),
            }
            for product in found
        ]
        document = {"products": broken, "unknown": unknown}
    else:
        stripped = [
            {name: value for name, value in product.items() if name not in ("title", "price")}
            for product in found
        ]
        document = {"products": stripped, "unknown": unknown}
    return json.dumps(document).encode(), "application/json"


def _amount(product: Mapping[str, Any]) -> Any:
    price = product.get("price")
    return price.get("amount") if isinstance(price, dict) else price


@dataclass(frozen=True)
class ProviderControls(PeerControls):
    rate_limit_per_second: float | None = None
    burst: int | None = None
    fault_rate: float = 0.0
    latency_ms: int = 0
    garbage_rate: float = 0.0
    garbage_kind: GarbageKind | None = None
    status_override: int | None = None
    unknown: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_limit_per_second": self.rate_limit_per_second,
            "burst": self.burst,
            "fault_rate": self.fault_rate,
            "latency_ms": self.latency_ms,
            "garbage_rate": self.garbage_rate,
            "garbage_kind": self.garbage_kind.value if self.garbage_kind else None,
            "status_override": self.status_override,
            "hold": self.hold,
            "unknown": sorted(self.unknown),
        }


# -- control values -----------------------------------------------------------------------------


def rate_limit_control(name: str, value: Any) -> float:
    rate = number(name, value)
    if rate <= 0:
        raise ControlError(f"{name} must be > 0 (null lifts the limit), got {value!r}")
    return rate


def burst_control(name: str, value: Any) -> int:
    return int(bounded(name, integer(name, value), 1, None))


def garbage_kind_control(name: str, value: Any) -> GarbageKind:
    if isinstance(value, GarbageKind):
        return value
    try:
        return GarbageKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in GarbageKind)
        raise ControlError(f"{name} must be one of {kinds}, got {value!r}") from None


def identifiers_control(name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ControlError(f"{name} must be a list of ids, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ControlError(f"{name} must hold strings only")
    return list(value)


def new_bucket(controls: ProviderControls, now: float) -> TokenBucket | None:
    rate = controls.rate_limit_per_second
    if rate is None:
        return None
    capacity = controls.burst if controls.burst is not None else max(1, math.floor(rate))
    return TokenBucket(rate, capacity, now)
