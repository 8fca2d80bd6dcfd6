"""What the client's tests share: the root check, the repository's
fixtures (the DUT appliance and the registry's systemd image, built by
scripts/fixtures/ as the Rust tests get them through crates/fixtures), and
the labs. Every lab here is named ``py-...`` so that these tests never
clash with the Rust suite's labs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from warren_lab import Lab

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def _require_root() -> None:
    # These tests build labs on the real kernel; they must fail, not skip,
    # where they cannot.
    assert os.geteuid() == 0, (
        "the warren_lab tests build labs on the real kernel and need root; "
        "run ./scripts/test as root (CI does)"
    )


def _fixture_script(name: str, *args: str) -> str:
    path = REPO / "scripts" / "fixtures" / name
    done = subprocess.run(["bash", str(path), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"the fixture {name} {args} failed (scripts/setup installs what it needs):\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="session")
def dut_dir() -> Path:
    """The test DUT's folder (vmlinuz, initrd.gz), or ``$WARREN_VM_FIXTURE``."""
    named = os.environ.get("WARREN_VM_FIXTURE")
    if named:
        return Path(named)
    return Path(_fixture_script("dut.sh").splitlines()[-1].strip())


@pytest.fixture(scope="session")
def systemd_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """warren's environment for the registry fixture with the debian:systemd
    image, and an image store of these tests' own."""
    out = _fixture_script("registry.sh", "systemd")
    env = dict(
        line.split("=", 1)
        for line in out.splitlines()
        if line.startswith("WARREN_") and "=" in line
    )
    assert "WARREN_REGISTRIES" in env, f"the registry fixture names its registries file:\n{out}"
    env["WARREN_STORE"] = str(tmp_path_factory.mktemp("store"))
    return env


@pytest.fixture(scope="session")
def busybox_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """warren's environment for the registry fixture's busybox image (the
    compose examples' ``busybox``), and an image store of these tests' own."""
    out = _fixture_script("registry.sh", "busybox")
    env = dict(
        line.split("=", 1)
        for line in out.splitlines()
        if line.startswith("WARREN_") and "=" in line
    )
    assert "WARREN_REGISTRIES" in env, f"the registry fixture names its registries file:\n{out}"
    env["WARREN_STORE"] = str(tmp_path_factory.mktemp("busybox-store"))
    return env


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results root of every lab these tests bring up."""
    _require_root()
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def client_lab(results: Path) -> Iterator[Lab]:
    """examples/client/lab.yaml as ``py-client``: h1 - r1 - h2, the r1-h2 link
    on the user-space wire, a fault called ``cut``."""
    with Lab.up(
        REPO / "examples" / "client" / "lab.yaml", name="py-client", results=results, replace=True
    ) as lab:
        yield lab
