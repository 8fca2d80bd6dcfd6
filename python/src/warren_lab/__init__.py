"""Drive warren network labs from Python.

``warren_lab`` speaks warren's control protocol (JSON lines on a lab's
unix socket, docs/control-protocol.md) and runs the ``warren`` binary only
to bring labs up and down::

    from warren_lab import Lab

    with Lab.up("lab.yaml", name="py-demo") as lab:
        out = lab.node("h1").exec(["ping", "-c1", "10.0.2.2"], check=True)
        lab.console("dut").expect("login:", timeout=30)
        with lab.capture("r1:eth1") as pcap:
            frames = list(pcap.packets(idle=2))

It also is a pytest plugin (the ``warren_lab`` fixture); see docs/python.md.
"""

from ._paths import WARREN_BIN, lab_dir, warren_binary
from .console import Console, ConsoleMatch, ConsoleRun, ConsoleUpload
from .errors import (
    BadRequestError,
    ConsoleTimeout,
    ControlError,
    DownError,
    LabNotRunning,
    NotFoundError,
    ProtocolViolation,
    ScaleError,
    UpError,
    WarrenError,
    WarrenNotFound,
)
from .info import CaptureInfo, InterfaceInfo, LabInfo, NodeInfo
from .lab import Lab, Link
from .node import Chunk, ExecResult, ExecStream, Node, NodeChange
from .pcapng import Packet, PcapngError, icmp_type, packets
from .qmp import Qmp
from .streams import Capture, Event, Events

__all__ = [
    "WARREN_BIN",
    "BadRequestError",
    "Capture",
    "CaptureInfo",
    "Chunk",
    "Console",
    "ConsoleMatch",
    "ConsoleRun",
    "ConsoleTimeout",
    "ConsoleUpload",
    "ControlError",
    "DownError",
    "Event",
    "Events",
    "ExecResult",
    "ExecStream",
    "InterfaceInfo",
    "Lab",
    "LabInfo",
    "LabNotRunning",
    "Link",
    "Node",
    "NodeChange",
    "NodeInfo",
    "NotFoundError",
    "Packet",
    "PcapngError",
    "ProtocolViolation",
    "Qmp",
    "ScaleError",
    "UpError",
    "WarrenError",
    "WarrenNotFound",
    "icmp_type",
    "lab_dir",
    "packets",
    "warren_binary",
]
