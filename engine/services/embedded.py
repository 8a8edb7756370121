"""What starting an embedded service gives back."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from .process import ChildProcess


@dataclass
class Embedded:
    """A running embedded service: the URL clients use, its version, and the process behind it.

    `owner_url` (the database only): the superuser's URL, for migrations and the store's upkeep;
    `url` is the application role's.
    """

    name: str
    url: str
    version: str
    process: ChildProcess
    startup_s: float
    owner_url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Embedded:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
