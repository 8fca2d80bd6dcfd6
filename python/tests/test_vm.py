"""The client against the test DUT, a vm booted from scripts/fixtures/dut.sh:
its console (expect, send, run, the log), QMP, and the QMP events."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from warren_lab import BadRequestError, ConsoleTimeout, ControlError, Lab
from warren_lab.console import LOGGER


@pytest.fixture(scope="module")
def vm_lab(dut_dir: Path, results: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab_file = tmp_path_factory.mktemp("vm") / "vm.yaml"
    lab_file.write_text(
        f"""name: py-vm
nodes:
  left: {{}}
  dut:
    kind: vm
    kernel: {dut_dir / "vmlinuz"}
    initrd: {dut_dir / "initrd.gz"}
    append: console=ttyS0 dut_name=dut dut_ip0=10.79.1.1/24
    accel: tcg
    memory: 256
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.79.1.2/24, ~]
"""
    )
    with Lab.up(lab_file, results=results, replace=True) as lab:
        yield lab


def test_the_console_expects_sends_and_runs_and_logs_what_it_sees(
    vm_lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    console = vm_lab.console("dut")
    console.sendline()
    console.expect("dut# ", timeout=20)
    console.sendline("uname -s")
    m = console.expect(r"(Linux)\r?\n", timeout=20)
    assert m.groups == ["Linux"]
    assert "uname -s" in m.before, m
    assert console.run("echo hi; false", timeout=20) == (1, "hi")
    ran = console.run("cat /proc/sys/kernel/hostname", timeout=20)
    assert (ran.returncode, ran.output) == (0, "dut")
    with pytest.raises(ConsoleTimeout) as timed_out:
        console.expect("never-printed", timeout=1)
    assert timed_out.value.code == "timeout"
    assert isinstance(timed_out.value, TimeoutError)
    # The log holds the console line by line, and what was typed.
    records = [r for r in caplog.records if r.name == f"{LOGGER}.dut"]
    lines = [r.getMessage() for r in records]
    assert "<<< 'uname -s\\n'" in lines, lines
    assert "Linux" in lines, lines
    assert "dut" in lines, lines
    # Each byte once: a run's output is logged as the console showed it, not again.
    assert lines.count("hi") == 1, lines
    assert not any("\x1b" in line for line in lines), "escape sequences are escaped"
    assert all(r.levelno == logging.DEBUG for r in records)


def test_the_dut_answers_on_its_nic_and_refuses_exec(vm_lab: Lab) -> None:
    assert vm_lab.node("left").exec(["ping", "-c1", "-W5", "10.79.1.1"]).returncode == 0
    with pytest.raises(BadRequestError):
        vm_lab.node("dut").exec(["true"])


def test_qmp_commands_and_their_events(vm_lab: Lab) -> None:
    qmp = vm_lab.qmp("dut")
    assert qmp.execute("query-status")["status"] == "running"
    qmp.execute("stop")
    assert qmp.execute("query-status")["status"] == "paused"
    qmp.execute("cont")
    assert qmp.execute("query-status")["status"] == "running"
    version = qmp.execute("human-monitor-command", **{"command-line": "info version"})
    assert isinstance(version, str)
    assert version[:1].isdigit(), version
    with pytest.raises(ControlError) as unknown:
        qmp.execute("no-such-command")
    assert unknown.value.code == "qmp"
    with vm_lab.events(idle=1) as events:
        names = [e["name"] for e in events if e.event == "qmp"]
    assert names[-2:] == ["STOP", "RESUME"], names


def test_upload_sends_a_file_over_the_console_checked_per_chunk(
    vm_lab: Lab, tmp_path: Path
) -> None:
    console = vm_lab.console("dut")
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho "hello from $(hostname), args: $*"\nexit 3\n')
    done = console.upload(script, "/tmp/hello.sh", mode=0o755, timeout=60)
    assert (done.size, done.encoding, done.checksum) == (
        script.stat().st_size,
        "base64",
        "sha256sum",
    )
    assert console.run("/tmp/hello.sh a b", timeout=20) == (3, "hello from dut, args: a b")
    assert console.run("stat -c %a /tmp/hello.sh", timeout=20) == (0, "755")
    # Binary content, every byte value, several chunks.
    blob = bytes(range(256)) * 40  # 10 KiB: chunks are 3 KiB
    done = console.upload(blob, "/tmp/blob", timeout=60)
    assert done.chunks > 1, done
    digest = hashlib.sha256(blob).hexdigest()
    assert console.run("sha256sum < /tmp/blob", timeout=20) == (0, f"{digest}  -")
    with pytest.raises(BadRequestError):
        console.upload(b"x", "/tmp/x", mode=0o17777)
