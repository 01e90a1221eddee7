"""Health of what the pipeline depends on, part by part (pure over probes).

Each check answers ``{"status": "ok" | "degraded", "detail": ...}``; the whole is ``degraded``
when any part is. Tables and buckets are degraded when they cannot be read; queues when one
cannot be read or a dead-letter queue holds messages (work an operator must look at); the
breaker when it is not closed; the downstream when its last answers were failures (the
breaker's count of consecutive failures).

Example::

    health_report(probes)  # {"status": "ok", "checks": {"tables": {...}, ...}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

OK: Final = "ok"
DEGRADED: Final = "degraded"


class HealthProbes(Protocol):
    def tables(self) -> Sequence[str]: ...

    def read_table(self, table: str) -> None: ...

    def buckets(self) -> Sequence[str]: ...

    def read_bucket(self, bucket: str) -> None: ...

    def queue_report(self) -> dict[str, Any]: ...

    def breaker(self) -> Mapping[str, Any]: ...


def _each(names: Sequence[str], probe: Callable[[str], None]) -> dict[str, Any]:
    failures = {}
    for name in names:
        try:
            probe(name)
        except Exception as error:  # a probe's failure is the finding, never the answer's
            failures[name] = f"{type(error).__name__}: {error}"[:300]
    if failures:
        return {"status": DEGRADED, "detail": failures}
    return {"status": OK, "detail": sorted(names)}


def _queues(probes: HealthProbes) -> dict[str, Any]:
    try:
        report = probes.queue_report()
    except Exception as error:  # see _each
        return {"status": DEGRADED, "detail": f"{type(error).__name__}: {error}"[:300]}
    waiting = {
        entry["deadLetter"]["name"]: entry["deadLetter"]["visible"]
        + entry["deadLetter"]["inFlight"]
        for entry in report["queues"]
        if entry["deadLetter"] is not None
        and entry["deadLetter"]["visible"] + entry["deadLetter"]["inFlight"] > 0
    }
    if waiting:
        return {"status": DEGRADED, "detail": {"deadLetterMessages": waiting}}
    return {"status": OK, "detail": [entry["name"] for entry in report["queues"]]}


def health_report(probes: HealthProbes) -> dict[str, Any]:
    """``{"status", "checks": {"tables", "queues", "buckets", "breaker", "downstream"}}``."""
    checks: dict[str, Any] = {
        "tables": _each(probes.tables(), probes.read_table),
        "queues": _queues(probes),
        "buckets": _each(probes.buckets(), probes.read_bucket),
    }
    try:
        breaker = probes.breaker()
    except Exception as error:  # see _each
        unknown = {"status": DEGRADED, "detail": f"{type(error).__name__}: {error}"[:300]}
        checks["breaker"] = checks["downstream"] = unknown
    else:
        checks["breaker"] = {
            "status": OK if breaker["state"] == "closed" else DEGRADED,
            "detail": {"state": breaker["state"], "nextProbeAt": breaker["nextProbeAt"]},
        }
        failures = int(breaker["failureCount"])
        checks["downstream"] = {
            "status": OK if failures == 0 and breaker["state"] == "closed" else DEGRADED,
            "detail": {"consecutiveFailures": failures},
        }
    status = OK if all(check["status"] == OK for check in checks.values()) else DEGRADED
    return {"status": status, "checks": checks}
