"""alpy's canonical test, on warren: a DUT between two nodes, pings
through it, a look at its console, and the frames it forwarded counted.

Run with the warren_lab plugin (installed with the package):

    pytest examples/python        # as root, vmlinuz and initrd.gz beside dut.yaml

The lab comes up once for this module and is torn down after it;
``--warren-keep`` keeps it after a failure."""

from __future__ import annotations

import pytest

from warren_lab import Lab, icmp_type

pytestmark = pytest.mark.warren_lab("dut.yaml")

RIGHT = "10.81.2.2"


def test_left_pings_right_through_the_dut(warren_lab: Lab) -> None:
    out = warren_lab.node("left").exec(["ping", "-c3", "-i0.2", "-W5", RIGHT], check=True)
    assert "3 received" in out.stdout


def test_the_dut_console_shows_its_addresses_and_forwarding(warren_lab: Lab) -> None:
    console = warren_lab.console("dut")
    code, forwarding = console.run("cat /proc/sys/net/ipv4/ip_forward")
    assert (code, forwarding) == (0, "1")
    code, addresses = console.run("ip -4 -o addr show dev eth1")
    assert code == 0
    assert "10.81.2.1/24" in addresses


def test_the_frames_the_dut_forwards_are_captured(warren_lab: Lab) -> None:
    # Capture the DUT's far side while the left node pings through it.
    with warren_lab.capture("dut:eth1") as capture:
        warren_lab.node("left").exec(["ping", "-c5", "-i0.2", "-W5", RIGHT], check=True)
        types = [icmp_type(p.data) for p in capture.packets(idle=2)]
    assert types.count(8) == 5, types  # echo requests the DUT forwarded
    assert types.count(0) == 5, types  # and the replies it got back


def test_the_dut_is_running_as_qmp_sees_it(warren_lab: Lab) -> None:
    assert warren_lab.qmp("dut").execute("query-status")["status"] == "running"
