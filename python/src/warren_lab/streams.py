"""The streaming operations besides ``exec``: live pcapng of a link
(``capture``) and the run's events (``events``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ._conn import Connection
from .errors import ProtocolViolation
from .pcapng import Packet, packets


class Capture(io.RawIOBase):
    """Live pcapng of a link or network, as a binary file: a section header,
    an interface description per captured point, then a packet block per
    frame. Reads block until frames come; after :meth:`set_timeout` a read
    that waits longer raises :class:`TimeoutError`. Close it (or leave its
    ``with`` block) to end the capture."""

    def __init__(self, conn: Connection, link: str) -> None:
        super().__init__()
        self._conn = conn
        self.link = link

    def readable(self) -> bool:
        """Always true: a capture is read."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Reads up to ``len(buffer)`` bytes into ``buffer``; 0 at the end."""
        view = memoryview(buffer).cast("B")
        data = self._conn.read(len(view))
        view[: len(data)] = data
        return len(data)

    def set_timeout(self, seconds: float | None) -> None:
        """Reads raise :class:`TimeoutError` after ``seconds`` without data
        (``None``: wait as long as the lab runs)."""
        self._conn.settimeout(seconds)

    def packets(self, idle: float | None = None) -> Iterator[Packet]:
        """The frames as they come (see :mod:`warren_lab.pcapng`); with
        ``idle``, the iteration ends once no data came for that many seconds."""
        if idle is not None:
            self.set_timeout(idle)
        try:
            yield from packets(self)
        except TimeoutError:
            return

    def close(self) -> None:
        """Ends the capture."""
        if not self.closed:
            self._conn.close()
        super().close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Event:
    """One line of the run's ``events.jsonl``."""

    #: Unix time, in seconds.
    t: float
    #: What happened: ``fault``, ``faults-start``, ``qmp``, ``node-stop``, ...
    event: str
    #: The other fields (``fault``, ``action``, ``trigger``, ``node``, ...).
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A field, or ``default``."""
        return self.fields.get(key, default)


def _event(line: bytes) -> Event:
    try:
        v = json.loads(line)
        return Event(t=float(v.pop("t")), event=str(v.pop("event")), fields=v)
    except (ValueError, KeyError, AttributeError, TypeError) as e:
        raise ProtocolViolation(f"an events line that is not an event: {line!r}") from e


class Events:
    """The run's events, oldest first, then each new one as it happens.
    Iterating blocks for new events until the lab goes down, or, with
    ``idle``, until none came for that many seconds."""

    def __init__(self, conn: Connection, idle: float | None) -> None:
        self._conn = conn
        conn.settimeout(idle)

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                line = self._conn.readline()
            except TimeoutError:
                return
            if not line:
                return
            yield _event(line)

    def close(self) -> None:
        """Ends the stream."""
        self._conn.close()

    def __enter__(self) -> Events:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
