"""The console of a vm or system node: expect, send, run, upload
(docs/control-protocol.md#console_expect), logged through :mod:`logging`.

The supervisor keeps one cursor per console, shared by every client: an
expect moves it past the match, a send to the end of the output. So that
the log holds every byte the console printed, a send first reads what is
left before the cursor jumps; the log then reads like a transcript. The
whole raw console is also in the run's results (``console/<node>.log``)."""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .node import whole_seconds

if TYPE_CHECKING:
    from .lab import Lab

#: Console output is logged at DEBUG on ``warren_lab.console.<node>``, one
#: record per line; what is typed goes to the same logger.
LOGGER = "warren_lab.console"

#: Extra seconds the socket waits beyond a console wait the supervisor times.
_MARGIN = 5.0
#: An empty match at the end of what the console printed so far.
_AT_END = r"\z"


@dataclass(frozen=True)
class ConsoleMatch:
    """What :meth:`Console.expect` matched."""

    #: The matched text.
    matched: str
    #: Capture groups 1.., ``None`` where a group did not take part.
    groups: list[str | None]
    #: The output between the cursor and the match.
    before: str


class ConsoleRun(NamedTuple):
    """What :meth:`Console.run` returns: the exit code and the output."""

    returncode: int
    output: str


@dataclass(frozen=True)
class ConsoleUpload:
    """What :meth:`Console.upload` did (the ``console_upload`` answer)."""

    #: Bytes written on the node.
    size: int
    #: Chunks sent, each checked with a checksum computed on the node.
    chunks: int
    #: How the bytes were carried: ``base64`` or ``printf``.
    encoding: str
    #: How they were checked: ``sha256sum``, ``cksum`` or ``sh-adler32``.
    checksum: str
    #: How long it took.
    seconds: float
    #: Bytes per second.
    bytes_per_second: float


def _printable(line: str) -> str:
    """A console line for a log: control characters (a terminal's escape
    sequences) escaped, as the results' ``console/<node>.txt`` has them."""
    return "".join(
        c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" for c in line.rstrip("\r")
    )


class _Transcript:
    """Turns console output into one log record per line, holding a partial
    line until its end comes."""

    def __init__(self, node: str) -> None:
        self.log = logging.getLogger(f"{LOGGER}.{node}")
        self._partial = ""

    def output(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.log.debug("%s", _printable(line))

    def flush(self) -> None:
        if self._partial:
            self.log.debug("%s", _printable(self._partial))
            self._partial = ""

    def sent(self, text: str) -> None:
        self.log.debug("<<< %r", text)


class Console:
    """The console of a vm or system node of a lab."""

    def __init__(self, lab: Lab, node: str, transcript: _Transcript) -> None:
        self.lab = lab
        self.node = node
        self._transcript = transcript

    def __repr__(self) -> str:
        return f"Console({self.lab.name!r}, {self.node!r})"

    def expect(self, pattern: str, timeout: float = 30.0) -> ConsoleMatch:
        """Waits until ``pattern`` (a regex, Rust ``regex`` syntax over the raw
        bytes) appears after the cursor, and moves the cursor past it. Raises
        :class:`~warren_lab.errors.ConsoleTimeout` (a :class:`TimeoutError`)
        with the console's tail when it does not come in ``timeout`` seconds."""
        got = self.lab.call(
            "console_expect",
            {"node": self.node, "pattern": pattern, "timeout_secs": whole_seconds(timeout)},
            timeout=timeout + _MARGIN,
        )
        m = ConsoleMatch(
            matched=str(got["matched"]),
            groups=[None if g is None else str(g) for g in got.get("groups", [])],
            before=str(got["before"]),
        )
        self._transcript.output(m.before + m.matched)
        return m

    def _drain(self) -> None:
        """Logs what the console printed since the cursor, and moves the
        cursor to the end: the output a send or run would skip."""
        self.expect(_AT_END, timeout=1.0)
        self._transcript.flush()

    def send(self, text: str) -> None:
        """Types ``text`` as is (``\\n`` is Enter, ``\\x03`` Ctrl-C)."""
        self._drain()
        self._transcript.sent(text)
        self.lab.call("console_send", {"node": self.node, "text": text})

    def sendline(self, line: str = "") -> None:
        """Types ``line`` and Enter."""
        self.send(line + "\n")

    def run(self, command: str, timeout: float = 30.0) -> ConsoleRun:
        """Runs a one-line command at the console's shell (a POSIX shell at a
        prompt) and returns its exit code and output."""
        self._drain()
        self._transcript.sent(command + "\n")
        got = self.lab.call(
            "console_run",
            {"node": self.node, "command": command, "timeout_secs": max(1, whole_seconds(timeout))},
            timeout=timeout + _MARGIN,
        )
        # The log gets the console as it was, the shell's echo included.
        self._drain()
        return ConsoleRun(int(got["code"]), str(got["output"]))

    def upload(
        self,
        src: str | os.PathLike[str] | bytes,
        dst: str,
        *,
        mode: int | None = None,
        timeout: float | None = None,
    ) -> ConsoleUpload:
        """Writes a file to ``dst`` on the node through the console's shell
        (base64, or printf escapes where the node has no base64), each chunk
        checked with a checksum the node computes; a mismatch raises a
        :class:`~warren_lab.errors.ControlError` with code ``upload``. ``src``
        is a local file's path, or the content as :class:`bytes`; ``mode`` is
        the file's mode (``0o755``). ``timeout`` defaults to a minute plus a
        second per 100 bytes."""
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
        wait = 60.0 + len(data) / 100 if timeout is None else timeout
        args: dict[str, object] = {
            "node": self.node,
            "path": dst,
            "data": base64.b64encode(data).decode("ascii"),
            "timeout_secs": max(1, whole_seconds(wait)),
        }
        if mode is not None:
            args["mode"] = f"{mode:o}"
        self._drain()
        self._transcript.sent(f"[upload of {len(data)} bytes to {dst}]\n")
        got = self.lab.call("console_upload", args, timeout=wait + _MARGIN)
        self._drain()
        return ConsoleUpload(
            size=int(got["bytes"]),
            chunks=int(got["chunks"]),
            encoding=str(got["encoding"]),
            checksum=str(got["checksum"]),
            seconds=float(got["seconds"]),
            bytes_per_second=float(got["bytes_per_second"]),
        )
