"""The pytest plugin, run in inner pytest sessions (pytester): the marker
and the option, module and session scope, teardown, ``--warren-keep``, and
the results folder in the report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from warren_lab import Lab, lab_dir

LAB = """name: py-plugin
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.77.9.1/24, 10.77.9.2/24]
"""

# An inner test module: it records the supervisor of the lab it got, so
# that the outer test can tell one lab from two.
USES_LAB = """
import pytest

pytestmark = pytest.mark.warren_lab({args})


def test_ping(warren_lab):
    assert warren_lab.node("a").exec(["ping", "-c1", "-W2", "10.77.9.2"]).returncode == 0
    with open("pids", "a") as f:
        f.write(f"{{warren_lab.name}} {{warren_lab.inspect().supervisor_pid}}\\n")


def test_again(warren_lab):
    with open("pids", "a") as f:
        f.write(f"{{warren_lab.name}} {{warren_lab.inspect().supervisor_pid}}\\n")
    assert {fail}
"""


def pids(pytester: pytest.Pytester) -> list[tuple[str, int]]:
    lines = (pytester.path / "pids").read_text().split("\n")
    return [(name, int(pid)) for name, pid in (line.split() for line in lines if line)]


def test_the_marker_brings_a_lab_up_for_the_module_and_tears_it_down(
    pytester: pytest.Pytester, results: Path
) -> None:
    pytester.makefile(".yaml", lab=LAB)
    pytester.makepyfile(
        test_inner=USES_LAB.format(
            args=f"'lab.yaml', name='py-plug', results={str(results)!r}", fail="True"
        )
    )
    junit = pytester.path / "junit.xml"
    outcome = pytester.runpytest(f"--junitxml={junit}")
    outcome.assert_outcomes(passed=2)
    # One lab for both tests, under the marker's name, gone afterwards.
    seen = pids(pytester)
    assert [name for name, _ in seen] == ["py-plug", "py-plug"]
    assert seen[0][1] == seen[1][1]
    assert not lab_dir("py-plug").exists()
    # Each test's report carries the results folder.
    props = [
        p.get("value")
        for p in ET.parse(junit).iter("property")
        if p.get("name") == "warren_results"
    ]
    assert len(props) == 2, props
    assert all(str(p).startswith(str(results / "py-plug")) for p in props), props


def test_session_scope_shares_a_lab_between_modules_and_module_scope_does_not(
    pytester: pytest.Pytester, results: Path
) -> None:
    pytester.makefile(".yaml", lab=LAB)
    args = f"'lab.yaml', name='py-plugs', results={str(results)!r}"
    pytester.makepyfile(
        test_one=USES_LAB.format(args=args, fail="True"),
        test_two=USES_LAB.format(args=args, fail="True"),
    )
    pytester.runpytest("--warren-lab-scope=session").assert_outcomes(passed=4)
    assert len({pid for _, pid in pids(pytester)}) == 1
    assert not lab_dir("py-plugs").exists()
    (pytester.path / "pids").unlink()
    pytester.runpytest().assert_outcomes(passed=4)
    assert len({pid for _, pid in pids(pytester)}) == 2
    assert not lab_dir("py-plugs").exists()


def test_the_option_names_the_lab_and_keep_keeps_it_after_a_failure(
    pytester: pytest.Pytester, results: Path
) -> None:
    pytester.makefile(".yaml", lab=LAB.replace("name: py-plugin", "name: py-keep"))
    pytester.makepyfile(
        test_inner=USES_LAB.replace("pytestmark = pytest.mark.warren_lab({args})\n", "").format(
            fail="False"
        )
    )
    options = ["--warren-lab=lab.yaml", f"--warren-results={results}"]
    # Without --warren-keep a failure still tears the lab down.
    pytester.runpytest(*options).assert_outcomes(passed=1, failed=1)
    assert not lab_dir("py-keep").exists()
    kept = pytester.runpytest(*options, "--warren-keep")
    kept.assert_outcomes(passed=1, failed=1)
    try:
        kept.stdout.fnmatch_lines(["*kept lab py-keep after a failure*`warren down py-keep`*"])
        assert Lab.attach("py-keep").node("b").exec(["true"]).returncode == 0
    finally:
        Lab.attach("py-keep").down()
    assert not lab_dir("py-keep").exists()


def test_a_test_that_names_no_lab_is_an_error_that_says_how_to_name_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner="def test_x(warren_lab):\n    pass\n")
    outcome = pytester.runpytest()
    outcome.assert_outcomes(errors=1)
    outcome.stdout.fnmatch_lines(["*names no lab*--warren-lab FILE*"])
