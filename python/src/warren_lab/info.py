"""What ``inspect`` answers, as typed dataclasses (the shape of
``warren inspect --json``). Fields a newer supervisor adds are ignored, as
the protocol's versioning rules ask of clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


@dataclass(frozen=True)
class InterfaceInfo:
    """One interface of a node, read live from the kernel."""

    name: str
    index: int
    kind: str | None
    mac: str | None
    mtu: int
    up: bool
    #: Operational state: ``up``, ``down``, ``lowerlayerdown``, ...
    state: str
    #: Addresses with their prefix length (``10.0.1.2/24``).
    addresses: list[str]
    #: What the lab file attaches it to (``link h1.eth1-r1.eth1``).
    attached: str | None = None
    #: The path its egress impairments take (``wire``, ``kernel-tbf``, ...).
    path: str | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> InterfaceInfo:
        """Reads one interface of an ``inspect`` answer."""
        return cls(
            name=str(v["name"]),
            index=int(v["index"]),
            kind=_opt_str(v.get("kind")),
            mac=_opt_str(v.get("mac")),
            mtu=int(v["mtu"]),
            up=bool(v["up"]),
            state=str(v["state"]),
            addresses=[str(a) for a in v.get("addresses", [])],
            attached=_opt_str(v.get("attached")),
            path=_opt_str(v.get("path")),
        )


@dataclass(frozen=True)
class NodeInfo:
    """One node (or the hub, ``#hub``)."""

    name: str
    kind: str
    interfaces: list[InterfaceInfo]
    #: Routes as ``ip route`` shows them (``10.0.0.0/24 via 10.0.12.2 dev eth1``).
    routes: list[str]
    #: Stopped (``Node.stop``, a node fault) and not started since.
    stopped: bool = False

    def interface(self, name: str) -> InterfaceInfo:
        """The interface called ``name``; :class:`KeyError` if there is none."""
        for i in self.interfaces:
            if i.name == name:
                return i
        raise KeyError(f"node {self.name} has no interface {name}")

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> NodeInfo:
        """Reads one node of an ``inspect`` answer."""
        return cls(
            name=str(v["name"]),
            kind=str(v["kind"]),
            interfaces=[InterfaceInfo.from_json(i) for i in v.get("interfaces", [])],
            routes=[str(r) for r in v.get("routes", [])],
            stopped=bool(v.get("stopped", False)),
        )


@dataclass(frozen=True)
class CaptureInfo:
    """Frames captured on one link or network so far."""

    name: str
    file: str | None
    captured: int
    dropped: int

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> CaptureInfo:
        """Reads one capture of an ``inspect`` answer."""
        return cls(
            name=str(v["name"]),
            file=_opt_str(v.get("file")),
            captured=int(v["captured"]),
            dropped=int(v["dropped"]),
        )


@dataclass(frozen=True)
class LabInfo:
    """Everything about a running lab."""

    lab: str
    file: str
    #: ``starting``, ``running`` or ``stopping``.
    status: str
    supervisor_pid: int
    init_pid: int | None
    rootless: bool
    #: Seconds since the epoch at start.
    created: int
    #: This run's results folder.
    results: str
    nodes: list[NodeInfo]
    captures: list[CaptureInfo] = field(default_factory=list)

    def node(self, name: str) -> NodeInfo:
        """The node called ``name``; :class:`KeyError` if there is none."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"lab {self.lab} has no node {name}")

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> LabInfo:
        """Reads an ``inspect`` answer."""
        init = v.get("init_pid")
        return cls(
            lab=str(v["lab"]),
            file=str(v["file"]),
            status=str(v["status"]),
            supervisor_pid=int(v["supervisor_pid"]),
            init_pid=None if init is None else int(init),
            rootless=bool(v["rootless"]),
            created=int(v["created"]),
            results=str(v["results"]),
            nodes=[NodeInfo.from_json(n) for n in v.get("nodes", [])],
            captures=[CaptureInfo.from_json(c) for c in v.get("captures", [])],
        )
