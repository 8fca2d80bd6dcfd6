"""Scaling a running compose lab from Python: ``Lab.scale`` adds and removes
replicas of examples/compose/live-scale/ through ``warren scale`` and the
supervisor's ``scale`` operation, while the nodes never scaled keep going."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warren_lab import Lab, ScaleError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def live(results: Path, busybox_env: dict[str, str]) -> Iterator[Lab]:
    compose = REPO / "examples" / "compose" / "live-scale" / "compose.yaml"
    with Lab.up(compose, name="py-scale", results=results, replace=True, env=busybox_env) as lab:
        yield lab


def _nodes(lab: Lab) -> list[str]:
    return sorted(n.name for n in lab.inspect().nodes if not n.name.startswith("#"))


def test_scale_adds_and_removes_replicas_that_work(live: Lab, busybox_env: dict[str, str]) -> None:
    assert _nodes(live) == ["a_1", "b_1", "node_1", "node_2"]
    grown = live.scale({"node": 4}, env=busybox_env)
    assert grown == {"removed": [], "added": ["node_3", "node_4"]}
    assert _nodes(live) == ["a_1", "b_1", "node_1", "node_2", "node_3", "node_4"]
    # node_4's offset address answers from a node that was never scaled.
    ping = live.node("a_1").exec(["ping", "-c", "1", "-W", "3", "10.77.0.14"])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    shrunk = live.scale({"node": 1}, env=busybox_env)
    assert shrunk == {"removed": ["node_2", "node_3", "node_4"], "added": []}
    assert _nodes(live) == ["a_1", "b_1", "node_1"]
    gone = live.node("a_1").exec(["ping", "-c", "1", "-W", "1", "10.77.0.14"])
    assert gone.returncode != 0, "node_4's address still answers"


def test_scale_names_an_unknown_service_and_changes_nothing(live: Lab) -> None:
    with pytest.raises(ScaleError, match="no service called nosuch") as e:
        live.scale({"nosuch": 2})
    assert e.value.lab == "py-scale"
    assert _nodes(live) == ["a_1", "b_1", "node_1", "node_2"]
