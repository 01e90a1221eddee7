"""What one request changed, collected while moto handles it, journaled before it answers.

A hooked moto entry point runs inside a unit of work: while moto works, lower-level hooks
:func:`touch` what they change (a table item, a queue message, an object), and when the
outermost entry point returns, each concern's stager reads the *current* state of everything
touched and submits it to the journal; the request waits for that commit. Reading the state
after the fact, not the arguments, is what makes conditional writes, transactions rolled back,
batch partial failures and moves to a dead-letter queue come out right without modelling them.

Work that must only happen once the state is durable (S3 notifications) is deferred with
:meth:`UnitOfWork.after_commit` and runs after the commit, outside the unit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from local.durability.journal import JournalError, Ticket

__all__ = ["Stager", "UnitOfWork", "current", "journaled", "register_stager", "touch"]

_log = logging.getLogger(__name__)
Stager = Callable[[set[Any]], list[Ticket]]
_Function = TypeVar("_Function", bound=Callable[..., Any])
Guard = Callable[[], contextlib.AbstractContextManager[Any]]
_stagers: dict[str, Stager] = {}
_local = threading.local()


class UnitOfWork:
    def __init__(self) -> None:
        self.touched: dict[str, set[Hashable]] = {}
        self.deferred: list[Callable[[], None]] = []

    def touch(self, concern: str, ref: Hashable) -> None:
        self.touched.setdefault(concern, set()).add(ref)

    def after_commit(self, action: Callable[[], None]) -> None:
        self.deferred.append(action)


def register_stager(concern: str, stager: Stager) -> None:
    """``stager`` turns the refs a unit touched for ``concern`` into submitted journal writes."""
    _stagers[concern] = stager


def current() -> UnitOfWork | None:
    work: UnitOfWork | None = getattr(_local, "work", None)
    return work


def touch(concern: str, ref: Hashable) -> None:
    """Note that the running request changed ``ref``; outside a request, nothing to journal."""
    work = current()
    if work is not None:
        work.touch(concern, ref)


def _stage(work: UnitOfWork) -> list[Ticket]:
    tickets: list[Ticket] = []
    for concern, refs in work.touched.items():
        try:
            tickets.extend(_stagers[concern](refs))
        except JournalError:
            raise
        except Exception as error:
            _log.error("cannot journal the %s this request changed: %s", concern, error)
            raise JournalError(f"cannot journal the {concern} this request changed") from error
    return tickets


def journaled(original: _Function, *, guard: Guard | None = None) -> _Function:
    """``original`` as a unit of work: it answers once what it changed is committed.

    A call made inside another unit joins it (the outermost call journals). ``guard``, when
    given, is held across the call and the staging, so no other guarded call can change the
    same state between the two (DynamoDB's writes, which are serialised anyway).
    """

    @functools.wraps(original)
    def unit(*args: Any, **kwargs: Any) -> Any:
        if current() is not None:
            return original(*args, **kwargs)
        work = UnitOfWork()
        failure: BaseException | None = None
        result: Any = None
        with guard() if guard is not None else contextlib.nullcontext():
            _local.work = work
            try:
                result = original(*args, **kwargs)
            except BaseException as error:  # what it changed before failing is journaled too
                failure = error
            finally:
                _local.work = None
            tickets = _stage(work)
        for ticket in tickets:
            ticket.wait()
        if failure is not None:
            raise failure
        for action in work.deferred:
            action()
        return result

    return unit  # type: ignore[return-value]
