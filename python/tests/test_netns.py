"""The client against a lab of netns nodes (examples/client/lab.yaml as
``py-client``): inspect, exec, capture, impair, link, node restart, fault,
events and the protocol's errors."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from warren_lab import (
    BadRequestError,
    ControlError,
    Lab,
    LabNotRunning,
    NotFoundError,
    UpError,
    icmp_type,
    lab_dir,
    packets,
)

H2 = "10.78.2.2"


def mean_rtt(ping_output: str) -> float:
    rtts = [float(t) for t in re.findall(r"time=([0-9.]+)", ping_output)]
    assert rtts, f"no replies in:\n{ping_output}"
    return sum(rtts) / len(rtts)


def ping(lab: Lab, count: int = 1, wait: int = 2) -> subprocess.CompletedProcess[str]:
    return lab.node("h1").exec(["ping", f"-c{count}", "-i0.2", f"-W{wait}", H2])


def test_inspect_gives_typed_nodes_interfaces_and_the_results_folder(
    client_lab: Lab, results: Path
) -> None:
    info = client_lab.inspect()
    assert info.lab == "py-client"
    assert info.status == "running"
    assert [n.name for n in info.nodes] == ["h1", "r1", "h2"]
    eth1 = info.node("h1").interface("eth1")
    assert "10.78.1.2/24" in eth1.addresses
    assert (eth1.up, eth1.mtu) == (True, 1500)
    assert "10.78.2.0/24 via 10.78.1.1 dev eth1" in info.node("h1").routes
    assert client_lab.results.is_relative_to(results / "py-client")
    assert Path(info.results).resolve() == client_lab.results.resolve()
    with pytest.raises(KeyError):
        info.node("nope")


def test_exec_returns_output_and_exit_code_like_subprocess(client_lab: Lab) -> None:
    out = client_lab.node("h2").exec(
        ["sh", "-c", 'read x; echo "$x $GREETING $WARREN_NODE"; echo oops >&2; exit 7'],
        env={"GREETING": "world"},
        input="hello\n",
    )
    assert isinstance(out, subprocess.CompletedProcess)
    assert (out.returncode, out.stdout, out.stderr) == (7, "hello world h2\n", "oops\n")
    assert not out.timed_out
    # A string is a shell command; bytes that are not UTF-8 come through as they are.
    raw = client_lab.node("h1").exec(r"printf 'a\377b'")
    assert raw.stdout_bytes == b"a\xffb"
    assert raw.stdout == "a\ufffdb"
    with pytest.raises(subprocess.CalledProcessError) as failed:
        client_lab.node("h1").exec("exit 3", check=True)
    assert failed.value.returncode == 3
    assert client_lab.node("h1").exec("true", check=True).returncode == 0


def test_exec_timeout_kills_the_command(client_lab: Lab) -> None:
    started = time.monotonic()
    slow = client_lab.node("h1").exec(["sleep", "30"], timeout=1)
    assert (slow.timed_out, slow.returncode) == (True, 137)
    assert time.monotonic() - started < 5
    with pytest.raises(subprocess.TimeoutExpired):
        client_lab.node("h1").exec(["sleep", "30"], timeout=1, check=True)


def test_exec_streams_output_as_it_comes(client_lab: Lab) -> None:
    with client_lab.node("h1").exec_stream("echo first; sleep 1; echo second >&2") as stream:
        chunks = iter(stream)
        first = next(chunks)
        # The first line is here while the command still sleeps.
        assert (first.stream, first.data) == ("stdout", b"first\n")
        assert stream.returncode is None
        rest = list(chunks)
    assert [(c.stream, c.data) for c in rest] == [("stderr", b"second\n")]
    assert stream.returncode == 0


def test_closing_an_exec_stream_early_kills_the_command(client_lab: Lab) -> None:
    with client_lab.node("h1").exec_stream("echo started; exec sleep 37") as stream:
        assert next(iter(stream)).data == b"started\n"
    # The supervisor kills the command's process group once the client hangs up.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = client_lab.node("h1").exec(["pgrep", "-f", "^sleep 37$"])
        if left.returncode == 1:
            break
        time.sleep(0.1)
    assert left.returncode == 1, f"sleep 37 still runs: {left.stdout}"


def test_a_capture_stream_counts_the_pings_that_cross_the_link(client_lab: Lab) -> None:
    with client_lab.capture("r1:eth2") as capture:
        assert ping(client_lab, count=3).returncode == 0
        types = [icmp_type(p.data) for p in capture.packets(idle=2)]
    assert (types.count(8), types.count(0)) == (3, 3), types


def test_the_pcapng_reader_agrees_with_tshark_on_a_results_capture(client_lab: Lab) -> None:
    assert ping(client_lab, count=2).returncode == 0
    [cap] = [c for c in client_lab.inspect().captures if c.name == "h1.eth1-r1.eth1"]
    assert cap.file is not None

    def tshark_count() -> int:
        done = subprocess.run(
            ["tshark", "-r", str(cap.file), "-T", "fields", "-e", "frame.number"],
            capture_output=True,
            text=True,
            check=True,
        )
        return len(done.stdout.split())

    # The file is live: a frame (IPv6 neighbour discovery, say) may land
    # between two reads, so ours is bracketed by tshark's before and after.
    before = tshark_count()
    with open(cap.file, "rb") as f:
        ours = [icmp_type(p.data) for p in packets(f)]
    after = tshark_count()
    assert before <= len(ours) <= after, (before, len(ours), after)
    assert ours.count(8) >= 2, ours
    assert ours.count(0) >= 2, ours


def test_impairments_change_at_run_time(client_lab: Lab) -> None:
    assert client_lab.impair("r1:eth2", delay="100ms") == {"delay": "100ms"}
    slow = ping(client_lab, count=2)
    assert 100.0 <= mean_rtt(slow.stdout) < 150.0, slow.stdout
    assert client_lab.impair("r1:eth2") == {}
    fast = ping(client_lab, count=2)
    assert mean_rtt(fast.stdout) < 50.0, fast.stdout
    with pytest.raises(BadRequestError) as bad:
        client_lab.impair("r1:eth2", delay="soon")
    assert bad.value.code == "bad-request"


def test_a_link_goes_down_and_up(client_lab: Lab) -> None:
    assert client_lab.link("r1:eth2").down() == "r1.eth2-h2.eth1"
    try:
        assert ping(client_lab, wait=1).returncode != 0
        state = client_lab.inspect().node("h2").interface("eth1").state
        assert state != "up", state
    finally:
        client_lab.link("r1:eth2").up()
    assert ping(client_lab, count=1, wait=3).returncode == 0


def test_a_node_restarts_with_its_links_addresses_and_routes(client_lab: Lab) -> None:
    stopped = client_lab.node("r1").stop()
    assert (stopped.node, stopped.kind, stopped.started) == ("r1", "netns", [])
    try:
        assert client_lab.inspect().node("r1").stopped
        assert ping(client_lab, wait=1).returncode != 0
    finally:
        started = client_lab.node("r1").start()
    assert started.stopped == []
    assert not client_lab.inspect().node("r1").stopped
    assert ping(client_lab, wait=3).returncode == 0
    # Starting a running node is refused.
    with pytest.raises(BadRequestError):
        client_lab.node("r1").start()
    client_lab.node("r1").restart()
    assert "10.78.2.1/24" in client_lab.inspect().node("r1").interface("eth2").addresses
    assert ping(client_lab, wait=3).returncode == 0


def test_a_fault_fires_cuts_the_link_and_is_in_the_events(client_lab: Lab) -> None:
    took: list[float] = []

    def fire() -> None:
        t = time.monotonic()
        client_lab.fault("cut")
        took.append(time.monotonic() - t)

    fired = threading.Thread(target=fire)
    fired.start()
    failed = False
    while not failed and fired.is_alive():
        failed = ping(client_lab, wait=1).returncode != 0
    fired.join()
    assert failed, "no ping failed during the cut"
    assert len(took) == 1, "the fault did not return"
    assert took[0] >= 2.0, took
    assert ping(client_lab, wait=2).returncode == 0
    with client_lab.events(idle=1) as events:
        cut = [
            e["action"]
            for e in events
            if e.event == "fault" and e.get("fault") == "cut" and e.get("trigger") == "request"
        ]
    assert cut[-2:] == ["link r1:eth2 down", "link r1:eth2 up"], cut


def test_protocol_errors_carry_their_code(client_lab: Lab) -> None:
    with pytest.raises(NotFoundError) as node:
        client_lab.node("nope").exec(["true"])
    assert node.value.code == "not-found"
    assert "nope" in node.value.message
    with pytest.raises(NotFoundError):
        client_lab.fault("nope")
    with pytest.raises(ControlError) as op:
        client_lab.call("no_such_op", {})
    assert op.value.code == "bad-request"


def test_a_lab_that_is_gone_says_so(results: Path) -> None:
    lab_file = Path(__file__).resolve().parents[2] / "examples" / "client" / "lab.yaml"
    lab = Lab.up(lab_file, name="py-gone", results=results, replace=True)
    attached = Lab.attach("py-gone")
    assert attached.inspect().lab == "py-gone"
    lab.down()
    assert not lab_dir("py-gone").exists()
    with pytest.raises(LabNotRunning):
        attached.inspect()
    with pytest.raises(LabNotRunning):
        Lab.attach("py-gone")
    # A second down is a no-op, as `warren down` is.
    lab.down()


def test_an_invalid_file_is_refused_at_its_line_and_column_and_changes_nothing(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: py-bad\nnodes:\n  r1: {}\nlinks:\n  - [r1:eth1, r3:eth1]\n")
    with pytest.raises(UpError) as refused:
        Lab.up(bad)
    assert f"{bad}:5:15" in refused.value.stderr, refused.value.stderr
    assert "r3" in str(refused.value)
    assert not lab_dir("py-bad").exists()
