"""One connection to a lab's control socket: JSON lines out, JSON lines in,
and for a streaming request the raw stream after the answer line. The
bytes that arrive with the answer line but belong to the stream are kept,
so a reader of the stream never loses its first bytes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from .errors import LabNotRunning, ProtocolViolation, control_error

#: The protocol version this client speaks (docs/control-protocol.md#versioning).
VERSION = 1

_CHUNK = 1 << 16


class Connection:
    """A connected control socket with a read buffer."""

    def __init__(self, lab: str, sock_path: Path, timeout: float | None) -> None:
        self.lab = lab
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._buf = bytearray()
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(str(sock_path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            self._sock.close()
            raise LabNotRunning(lab) from e
        except BaseException:
            self._sock.close()
            raise

    def settimeout(self, timeout: float | None) -> None:
        """Reads after this fail with :class:`TimeoutError` after ``timeout``
        seconds without data (``None``: wait forever)."""
        self._sock.settimeout(timeout)

    def request(self, op: str, fields: dict[str, Any]) -> Any:
        """Sends one request and returns its result; raises the error answer."""
        line = json.dumps({"v": VERSION, "op": op, **fields}, separators=(",", ":"))
        try:
            self._sock.sendall(line.encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError) as e:
            raise LabNotRunning(self.lab) from e
        answer = self.readline()
        if not answer:
            # The supervisor closed the connection without a word: it is
            # going down (or gone) under us.
            raise LabNotRunning(self.lab)
        return parse_answer(op, answer)

    def readline(self) -> bytes:
        """The next line with its newline; ``b""`` at the end of the stream, or
        the partial last line when the stream ends without one."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            chunk = self._recv(_CHUNK)
            if not chunk:
                rest = bytes(self._buf)
                self._buf.clear()
                return rest
            self._buf += chunk

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes: buffered ones first, else one receive;
        ``b""`` at the end of the stream."""
        if self._buf:
            out = bytes(self._buf[:size])
            del self._buf[:size]
            return out
        return self._recv(size)

    def _recv(self, size: int) -> bytes:
        try:
            return self._sock.recv(size)
        except socket.timeout as e:
            # Python 3.9's socket.timeout is not yet the builtin TimeoutError.
            raise TimeoutError(f"no data from lab {self.lab} in time") from e
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        """Closes the connection; the supervisor ends a stream it carried (an
        exec's command is killed)."""
        self._sock.close()


def parse_answer(op: str, line: bytes) -> Any:
    """The result of an answer line, or its error raised."""
    try:
        answer = json.loads(line)
    except ValueError as e:
        raise ProtocolViolation(f"{op}: the supervisor's answer is not JSON: {line!r}") from e
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ProtocolViolation(f"{op}: an answer without `ok`: {line!r}")
    if answer["ok"]:
        return answer.get("result")
    error = answer.get("error")
    if not isinstance(error, dict):
        raise ProtocolViolation(f"{op}: an error answer without `error`: {line!r}")
    causes = error.get("causes") or []
    raise control_error(
        op, str(error.get("code", "")), str(error.get("message", "")), [str(c) for c in causes]
    )
