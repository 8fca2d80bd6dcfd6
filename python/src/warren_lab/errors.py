"""The exceptions of the client. Every one is a :class:`WarrenError`; a
supervisor's refusal is a :class:`ControlError` carrying the protocol's
stable error ``code`` (docs/control-protocol.md#errors)."""

from __future__ import annotations

import builtins


class WarrenError(Exception):
    """Anything that went wrong driving a lab."""


class WarrenNotFound(WarrenError):
    """No ``warren`` binary: neither ``$WARREN_BIN`` nor one on ``PATH``."""


class UpError(WarrenError):
    """``warren up`` failed: an invalid lab file (each problem at its
    ``file:line:column``), a lab of that name already running, or a failed
    bring-up. ``stderr`` is what warren printed."""

    def __init__(self, file: str, returncode: int, stderr: str) -> None:
        super().__init__(f"warren up {file} failed (exit {returncode}):\n{stderr.rstrip()}")
        self.file = file
        self.returncode = returncode
        self.stderr = stderr


class DownError(WarrenError):
    """``warren down`` failed; ``stderr`` is what warren printed."""

    def __init__(self, lab: str, returncode: int, stderr: str) -> None:
        super().__init__(f"warren down {lab} failed (exit {returncode}):\n{stderr.rstrip()}")
        self.lab = lab
        self.returncode = returncode
        self.stderr = stderr


class ScaleError(WarrenError):
    """``warren scale`` failed: the lab was not brought up from a compose
    file, a service is unknown, or the supervisor refused or failed the
    ``scale`` operation. ``stderr`` is what warren printed."""

    def __init__(self, lab: str, returncode: int, stderr: str) -> None:
        super().__init__(f"warren scale {lab} failed (exit {returncode}):\n{stderr.rstrip()}")
        self.lab = lab
        self.returncode = returncode
        self.stderr = stderr


class LabNotRunning(WarrenError):
    """No lab of that name is running: never started, or gone (its control
    socket is missing or refuses connections)."""

    def __init__(self, lab: str) -> None:
        super().__init__(f"no lab called {lab} is running")
        self.lab = lab


class ProtocolViolation(WarrenError):
    """The supervisor sent something this client does not understand, or a
    stream ended in the middle."""


class ControlError(WarrenError):
    """The supervisor refused or failed a request. ``code`` is stable
    (``not-found``, ``bad-request``, ``timeout``, ...); ``message`` and
    ``causes`` are for people."""

    def __init__(self, op: str, code: str, message: str, causes: list[str]) -> None:
        detail = "".join(f"\n  caused by: {c}" for c in causes)
        super().__init__(f"{op}: {code}: {message}{detail}")
        self.op = op
        self.code = code
        self.message = message
        self.causes = causes


class NotFoundError(ControlError):
    """``not-found``: no such node, vm node, link, network or fault."""


class BadRequestError(ControlError):
    """``bad-request``: an unknown op, a bad value, ``exec`` on a vm node, ..."""


class ConsoleTimeout(ControlError, builtins.TimeoutError):
    """``timeout``: ``console_expect`` did not see its pattern in time; the
    message holds the console's tail."""


_BY_CODE: dict[str, type[ControlError]] = {
    "not-found": NotFoundError,
    "bad-request": BadRequestError,
    "timeout": ConsoleTimeout,
}


def control_error(op: str, code: str, message: str, causes: list[str]) -> ControlError:
    """The exception for an error answer: a subclass for the codes tests
    most often catch, :class:`ControlError` for the others."""
    return _BY_CODE.get(code, ControlError)(op, code, message, causes)
