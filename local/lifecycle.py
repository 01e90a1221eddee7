"""What a local service shares with every other: ``with`` starts it and always stops it.

>>> class Lamp(Service):
...     def start(self) -> None:
...         print("on")
...
...     def stop(self) -> None:
...         print("off")
>>> with Lamp():
...     pass
on
off
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Service(ABC):
    """A context manager over :meth:`start` and :meth:`stop` (which must be safe to call twice)."""

    @abstractmethod
    def start(self) -> object: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
