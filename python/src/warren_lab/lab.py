"""A running lab as a Python object: :meth:`Lab.up` brings a lab file up
with the ``warren`` binary, every other method is one request of the
control protocol (docs/control-protocol.md) on the lab's socket."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ._conn import Connection
from ._paths import lab_dir, warren_binary
from .console import Console, _Transcript
from .errors import DownError, LabNotRunning, ProtocolViolation, ScaleError, UpError, WarrenError
from .info import LabInfo
from .node import Node
from .qmp import Qmp
from .streams import Capture, Events

#: How long a plain request may take to be answered, in seconds.
CALL_TIMEOUT = 30.0
#: How long :meth:`Lab.fault` waits: a fault lasts as long as its ``down:`` or ``for:``.
FAULT_TIMEOUT = 3600.0


class Link:
    """A wired link (by name or an endpoint, ``r1:eth1``) whose carrier can
    be taken away and given back, addresses and routes kept."""

    def __init__(self, lab: Lab, link: str) -> None:
        self.lab = lab
        self.link = link

    def __repr__(self) -> str:
        return f"Link({self.lab.name!r}, {self.link!r})"

    def _set(self, up: bool) -> str:
        done = self.lab.call("link", {"link": self.link, "up": up})
        return str(done["link"])

    def down(self) -> str:
        """Turns the carrier off, as both ends see it; returns the link's name."""
        return self._set(False)

    def up(self) -> str:
        """Turns the carrier on again; returns the link's name."""
        return self._set(True)


class Lab:
    """A running lab. One from :meth:`up` is torn down when its ``with``
    block ends (or by :meth:`down`); one from :meth:`attach` is left running."""

    def __init__(self, name: str, results: Path, owned: bool) -> None:
        #: The lab's name.
        self.name = name
        #: This run's results folder (captures, logs, ``events.jsonl``); it
        #: stays after teardown.
        self.results = results
        self._owned = owned
        self._dir = lab_dir(name)
        self._transcripts: dict[str, _Transcript] = {}

    def __repr__(self) -> str:
        return f"Lab({self.name!r})"

    @classmethod
    def up(
        cls,
        path: str | os.PathLike[str],
        name: str | None = None,
        results: str | os.PathLike[str] | None = None,
        replace: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Lab:
        """Brings the lab file at ``path`` up with ``warren up`` and returns
        once it is ready. ``name`` runs it under another name (so one file can
        run several times at once), ``results`` is the folder whose
        ``<lab>/<run>/`` gets the evidence (default: the file's ``results:``,
        else ``./results``), ``replace`` tears a running lab of that name down
        first, ``env`` adds to warren's environment. Raises
        :class:`~warren_lab.errors.UpError` with each problem of an invalid
        file at its ``file:line:column``."""
        argv = [str(warren_binary()), "up", "--json", os.fspath(path)]
        if name is not None:
            argv += ["--name", name]
        if results is not None:
            argv += ["--results", os.fspath(results)]
        if replace:
            argv.append("--replace")
        run_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=run_env, check=False
        )
        if done.returncode != 0:
            raise UpError(os.fspath(path), done.returncode, done.stderr)
        try:
            info = json.loads(done.stdout)
            lab_name, run = str(info["lab"]), str(info["results"])
        except (ValueError, KeyError, TypeError) as e:
            raise ProtocolViolation(f"warren up --json printed no lab: {done.stdout!r}") from e
        return cls(lab_name, Path(os.path.abspath(run)), owned=True)

    @classmethod
    def attach(cls, name: str) -> Lab:
        """A handle on the running lab called ``name``; it stays running when
        the handle is done. Raises :class:`~warren_lab.errors.LabNotRunning`."""
        try:
            state = json.loads((lab_dir(name) / "state.json").read_text())
            results = Path(str(state["results"]))
        except FileNotFoundError as e:
            raise LabNotRunning(name) from e
        except (ValueError, KeyError, TypeError) as e:
            raise ProtocolViolation(f"the state of lab {name} is not warren's") from e
        lab = cls(name, results, owned=False)
        lab.call("ping", {})
        return lab

    def down(self) -> None:
        """Tears the lab down now (``warren down``), whichever way the handle
        was made; a lab already gone is fine."""
        self._owned = False
        done = subprocess.run(
            [str(warren_binary()), "down", self.name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
        if done.returncode != 0:
            raise DownError(self.name, done.returncode, done.stderr)

    def scale(
        self, counts: Mapping[str, int], env: Mapping[str, str] | None = None
    ) -> dict[str, list[str]]:
        """Sets the replica count of each compose service in ``counts``
        (``{"node": 4}``) on the running lab, as ``warren scale`` does: the
        compose files the lab was brought up from are converted again with
        the new counts and the supervisor's ``scale`` operation adds and
        removes replicas while every other node keeps running. Returns the
        nodes ``{"removed": [...], "added": [...]}``. ``env`` adds to
        warren's environment (a registry for new replicas' images). Raises
        :class:`~warren_lab.errors.ScaleError`."""
        if not counts:
            raise ValueError("scale needs at least one SERVICE: N")
        argv = [str(warren_binary()), "scale", "--json", self.name]
        argv += [f"{service}={n}" for service, n in counts.items()]
        run_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=run_env, check=False
        )
        if done.returncode != 0:
            raise ScaleError(self.name, done.returncode, done.stderr)
        try:
            result = json.loads(done.stdout)
            return {key: [str(n) for n in result[key]] for key in ("removed", "added")}
        except (ValueError, KeyError, TypeError) as e:
            raise ProtocolViolation(
                f"warren scale --json printed no result: {done.stdout!r}"
            ) from e

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._owned:
            return
        if exc_type is None:
            self.down()
            return
        # The block's own exception is the one to see; teardown is best effort.
        with contextlib.suppress(WarrenError):
            self.down()

    def connect(self, timeout: float | None) -> Connection:
        """A new connection to the lab's control socket (for requests this
        client does not wrap yet)."""
        return Connection(self.name, self._dir / "control.sock", timeout)

    def call(self, op: str, fields: Mapping[str, Any], timeout: float = CALL_TIMEOUT) -> Any:
        """Sends one plain request (``op`` with its ``fields``) and returns its
        result; an error answer raises :class:`~warren_lab.errors.ControlError`."""
        conn = self.connect(timeout)
        try:
            return conn.request(op, dict(fields))
        finally:
            conn.close()

    def inspect(self) -> LabInfo:
        """Nodes, interfaces, addresses, routes and captures, read live from the kernel."""
        return LabInfo.from_json(self.call("inspect", {}))

    def node(self, name: str) -> Node:
        """A node: commands in netns, container and system nodes; stop and start."""
        return Node(self, name)

    def console(self, node: str) -> Console:
        """The console of a vm (its serial port) or a system node (``/dev/console``)."""
        transcript = self._transcripts.setdefault(node, _Transcript(node))
        return Console(self, node, transcript)

    def qmp(self, node: str) -> Qmp:
        """The QMP monitor of a vm node."""
        return Qmp(self, node)

    def link(self, link: str) -> Link:
        """A wired link, to take down and bring up."""
        return Link(self, link)

    def capture(self, link: str) -> Capture:
        """Live pcapng of a link (its name or an endpoint, ``r1:eth1``) or a
        network, from now until the returned file is closed."""
        conn = self.connect(CALL_TIMEOUT)
        try:
            conn.request("capture", {"link": link})
        except BaseException:
            conn.close()
            raise
        conn.settimeout(None)
        return Capture(conn, link)

    def impair(
        self, link: str, keys: Mapping[str, str] | None = None, **more: str
    ) -> dict[str, str]:
        """Replaces the impairments of a link on the user-space wire (both
        directions for a link name, one egress for ``node:if``) with keys as
        in the lab file: ``impair("r1:eth2", delay="50ms", loss="2%")``; no
        keys clears them. Returns the impairments now in force."""
        impair = {**(keys or {}), **more}
        done = self.call("impair", {"link": link, "impair": impair})
        return {str(k): str(v) for k, v in dict(done.get("impair", {})).items()}

    def fault(self, name: str) -> None:
        """Fires the ``faults:`` entry called ``name`` and returns once its last
        action (the end of its ``down:`` or ``for:``) is done."""
        self.call("fault", {"name": name}, timeout=FAULT_TIMEOUT)

    def events(self, idle: float | None = None) -> Events:
        """The run's events, from the first, then each new one as it happens;
        with ``idle``, the iteration ends once none came for that many seconds."""
        conn = self.connect(CALL_TIMEOUT)
        try:
            conn.request("events", {})
        except BaseException:
            conn.close()
            raise
        return Events(conn, idle)
