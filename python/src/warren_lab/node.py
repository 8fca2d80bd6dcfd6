"""Commands in a node (``exec``, docs/control-protocol.md#exec-streaming) and
stopping, starting and restarting it (the ``node`` operation)."""

from __future__ import annotations

import base64
import json
import math
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union

from ._conn import Connection
from .errors import ProtocolViolation

if TYPE_CHECKING:
    from .lab import Lab

#: A command: an argv list (no shell), or one string run by ``sh -c``.
Command = Union[str, Sequence[str]]


def argv_of(cmd: Command) -> list[str]:
    """The argv a command means: a string runs through ``sh -c``."""
    if isinstance(cmd, str):
        return ["sh", "-c", cmd]
    return [str(a) for a in cmd]


def whole_seconds(timeout: float) -> int:
    """The protocol's durations are whole seconds: round up, as the Rust client does."""
    return max(0, math.ceil(timeout))


class ExecResult(subprocess.CompletedProcess[str]):
    """What a command did: ``returncode`` (128 + the signal when killed),
    ``stdout`` and ``stderr`` as text (invalid UTF-8 replaced), the raw
    bytes in ``stdout_bytes`` and ``stderr_bytes``, and ``timed_out`` when
    the ``timeout`` killed it."""

    def __init__(
        self,
        args: list[str],
        returncode: int,
        stdout: bytes,
        stderr: bytes,
        timed_out: bool,
        timeout: float | None,
    ) -> None:
        super().__init__(
            args,
            returncode,
            stdout.decode("utf-8", errors="replace"),
            stderr.decode("utf-8", errors="replace"),
        )
        self.stdout_bytes = stdout
        self.stderr_bytes = stderr
        self.timed_out = timed_out
        self.timeout = timeout

    def check_returncode(self) -> None:
        """Raises :class:`subprocess.TimeoutExpired` if the timeout killed the
        command, :class:`subprocess.CalledProcessError` if it exited non-zero."""
        if self.timed_out:
            raise subprocess.TimeoutExpired(
                self.args, self.timeout or 0.0, self.stdout_bytes, self.stderr_bytes
            )
        super().check_returncode()


@dataclass(frozen=True)
class Chunk:
    """A piece of a command's output, as it came."""

    #: ``stdout`` or ``stderr``.
    stream: str
    data: bytes


class ExecStream:
    """A command running in a node, its output read as it comes: iterate for
    :class:`Chunk` values; ``returncode`` and ``timed_out`` are set once the
    iteration ends. Closing it early (leaving the ``with`` block) kills the
    command's whole process group."""

    def __init__(self, conn: Connection, args: list[str], timeout: float | None) -> None:
        self._conn = conn
        self.args = args
        self.timeout = timeout
        #: The exit code once the command ended; ``None`` while it runs.
        self.returncode: int | None = None
        #: The command was killed at its timeout.
        self.timed_out = False

    def __iter__(self) -> Iterator[Chunk]:
        while self.returncode is None:
            line = self._conn.readline()
            if not line.endswith(b"\n"):
                self.close()
                raise ProtocolViolation(
                    f"the exec stream of {self.args} ended without an exit code"
                )
            try:
                frame = json.loads(line)
            except ValueError as e:
                self.close()
                raise ProtocolViolation(f"an exec frame that is not JSON: {line!r}") from e
            if not isinstance(frame, dict):
                self.close()
                raise ProtocolViolation(f"an exec frame that is not an object: {line!r}")
            chunk = self._frame(frame)
            if chunk is not None:
                yield chunk
        self.close()

    def _frame(self, frame: dict[str, Any]) -> Chunk | None:
        if "exit" in frame:
            self.returncode = int(frame["exit"])
        elif "timed_out" in frame:
            self.timed_out = True
        elif "stdout" in frame:
            return Chunk("stdout", str(frame["stdout"]).encode())
        elif "stderr" in frame:
            return Chunk("stderr", str(frame["stderr"]).encode())
        elif "stdout_b64" in frame:
            return Chunk("stdout", base64.b64decode(frame["stdout_b64"]))
        elif "stderr_b64" in frame:
            return Chunk("stderr", base64.b64decode(frame["stderr_b64"]))
        # Frames a newer supervisor adds are skipped, as the protocol asks.
        return None

    def wait(self) -> ExecResult:
        """Reads the rest of the output and returns the whole result."""
        out: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        for chunk in self:
            out[chunk.stream] += chunk.data
        assert self.returncode is not None
        return ExecResult(
            self.args,
            self.returncode,
            bytes(out["stdout"]),
            bytes(out["stderr"]),
            self.timed_out,
            self.timeout,
        )

    def close(self) -> None:
        """Ends the stream; a command still running is killed."""
        self._conn.close()

    def __enter__(self) -> ExecStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class NodeChange:
    """What a stop, start or restart did: the host pids stopped and started
    (a vm's QEMU, a container's init first)."""

    node: str
    kind: str
    stopped: list[int]
    started: list[int]


class Node:
    """A node of a lab. Commands run in netns, container and system nodes (a
    vm's shell is its :meth:`Lab.console`); any node can be stopped and
    started again with its links, addresses and routes."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name

    def __repr__(self) -> str:
        return f"Node({self.lab.name!r}, {self.name!r})"

    def exec_stream(
        self,
        cmd: Command,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> ExecStream:
        """Starts ``cmd`` and returns its output stream. ``timeout`` (seconds,
        rounded up) kills the command's process group; ``env`` adds to the
        node's environment; ``input`` is written to its stdin, which is
        otherwise empty."""
        args = argv_of(cmd)
        fields: dict[str, Any] = {"node": self.name, "argv": args, "env": dict(env or {})}
        if input is not None:
            fields["stdin"] = input
        if timeout is not None:
            fields["timeout_secs"] = whole_seconds(timeout)
        # The command may run for as long as it likes: no socket timeout.
        conn = self.lab.connect(None)
        try:
            conn.request("exec", fields)
        except BaseException:
            conn.close()
            raise
        return ExecStream(conn, args, timeout)

    def exec(
        self,
        cmd: Command,
        *,
        timeout: float | None = None,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> ExecResult:
        """Runs ``cmd`` in the node and collects its output, as
        :func:`subprocess.run` does; with ``check=True`` a non-zero exit raises
        :class:`subprocess.CalledProcessError` and a timeout
        :class:`subprocess.TimeoutExpired`."""
        with self.exec_stream(cmd, timeout=timeout, env=env, input=input) as stream:
            result = stream.wait()
        if check:
            result.check_returncode()
        return result

    def _node(self, action: str) -> NodeChange:
        done = self.lab.call("node", {"node": self.name, "action": action})
        return NodeChange(
            node=str(done["node"]),
            kind=str(done["kind"]),
            stopped=[int(p) for p in done.get("stopped", [])],
            started=[int(p) for p in done.get("started", [])],
        )

    def stop(self) -> NodeChange:
        """Stops the node: its interfaces go down and its processes stop."""
        return self._node("stop")

    def start(self) -> NodeChange:
        """Starts a stopped node again, with the same links, addresses and routes."""
        return self._node("start")

    def restart(self) -> NodeChange:
        """Stops the node and starts it again."""
        return self._node("restart")
