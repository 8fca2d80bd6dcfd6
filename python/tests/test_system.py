"""The client against a system node: systemd as PID 1 on the registry
fixture's debian:systemd image, driven by exec and over its console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warren_lab import Lab


@pytest.fixture(scope="module")
def system_lab(
    systemd_env: dict[str, str], results: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    lab_file = tmp_path_factory.mktemp("system") / "system.yaml"
    lab_file.write_text(
        """name: py-system
nodes:
  h: {}
  os: {kind: system, image: 'debian:systemd', netconf: {renderer: networkd}}
links:
  - endpoints: [h:eth0, os:eth0]
    ipv4: [10.97.5.1/24, 10.97.5.2/24]
"""
    )
    with Lab.up(lab_file, results=results, replace=True, env=systemd_env) as lab:
        yield lab


def test_a_system_node_runs_commands_under_systemd(system_lab: Lab) -> None:
    assert system_lab.node("os").exec(["cat", "/proc/1/comm"], check=True).stdout == "systemd\n"
    state = system_lab.node("os").exec(["systemctl", "is-system-running", "--wait"], timeout=60)
    assert state.stdout.strip() in ("running", "degraded"), state
    assert system_lab.node("h").exec(["ping", "-c1", "-w20", "10.97.5.2"]).returncode == 0


def test_a_system_nodes_console_expects_and_runs(system_lab: Lab) -> None:
    console = system_lab.console("os")
    assert console.run("echo hi; false", timeout=60) == (1, "hi")
    console.sendline("echo $((6 * 7))")
    m = console.expect(r"(\d+)\r?\n", timeout=20)
    assert m.groups == ["42"], m


def test_a_system_node_restarts_its_systemd(system_lab: Lab) -> None:
    done = system_lab.node("os").restart()
    assert done.kind == "system"
    assert done.stopped, done
    assert done.started, done
    assert set(done.stopped).isdisjoint(done.started), done
    assert Path(f"/proc/{done.started[0]}/comm").read_text().strip() == "systemd"
    assert system_lab.node("os").exec(["cat", "/proc/1/comm"]).stdout == "systemd\n"
    assert system_lab.node("h").exec(["ping", "-c1", "-w20", "10.97.5.2"]).returncode == 0
