"""A vm's QMP monitor through the supervisor (docs/control-protocol.md#qmp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lab import Lab


class Qmp:
    """The QMP monitor of a vm node."""

    def __init__(self, lab: Lab, node: str) -> None:
        self.lab = lab
        self.node = node

    def __repr__(self) -> str:
        return f"Qmp({self.lab.name!r}, {self.node!r})"

    def execute(self, command: str, **arguments: Any) -> Any:
        """Runs a QMP command and returns its ``return`` value as QEMU sent it:
        ``execute("query-status")``, ``execute("human-monitor-command",
        **{"command-line": "info version"})``. QEMU's refusal raises a
        :class:`~warren_lab.errors.ControlError` with code ``qmp``."""
        fields: dict[str, Any] = {"node": self.node, "command": command}
        if arguments:
            fields["arguments"] = arguments
        return self.lab.call("qmp", fields)
