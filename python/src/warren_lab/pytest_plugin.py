"""The pytest plugin (entry point ``pytest11``): a ``warren_lab`` fixture
that brings up the lab file named by ``@pytest.mark.warren_lab("lab.yaml")``
(on a test, a class or a module's ``pytestmark``) or by ``--warren-lab``.

A lab lives for the module that uses it (``--warren-lab-scope=module``, the
default) or for the whole session (``session``): tests naming the same file
with the same options share one lab. It is torn down at the end, except
that ``--warren-keep`` keeps a lab one of whose tests failed, for a look
with ``warren exec``/``inspect``. Each test's report carries the lab's
results folder (the ``warren_results`` user property, in JUnit XML too)."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .errors import WarrenError
from .lab import Lab

_SCOPES = ("module", "session")


@dataclass(frozen=True)
class LabSpec:
    """What to bring up: the file and the options of :meth:`Lab.up`."""

    path: Path
    name: str | None = None
    results: str | None = None
    replace: bool = False
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class _Running:
    lab: Lab
    failed: bool = False


@dataclass
class _Pool:
    """Labs brought up for one module or the whole session, by spec."""

    labs: dict[LabSpec, _Running] = field(default_factory=dict)
    #: A lab that would not come up fails every test that asks for it,
    #: without trying again for each.
    broken: dict[LabSpec, WarrenError] = field(default_factory=dict)

    def get(self, spec: LabSpec) -> _Running:
        if spec in self.broken:
            raise self.broken[spec]
        if spec not in self.labs:
            try:
                lab = Lab.up(
                    spec.path,
                    name=spec.name,
                    results=spec.results,
                    replace=spec.replace,
                    env=dict(spec.env),
                )
            except WarrenError as e:
                self.broken[spec] = e
                raise
            self.labs[spec] = _Running(lab)
        return self.labs[spec]

    def close(self, config: pytest.Config) -> None:
        keep = bool(config.getoption("warren_keep"))
        errors: list[WarrenError] = []
        for running in self.labs.values():
            if keep and running.failed:
                config.stash[_KEPT].append(running.lab)
                continue
            try:
                running.lab.down()
            except WarrenError as e:
                errors.append(e)
        self.labs.clear()
        if errors:
            raise errors[0]


_KEPT = pytest.StashKey[list[Lab]]()
_USED = pytest.StashKey[_Running]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Adds the plugin's options."""
    group = parser.getgroup("warren", "warren labs")
    group.addoption(
        "--warren-lab",
        metavar="FILE",
        help="lab file for the warren_lab fixture where no warren_lab marker names one",
    )
    group.addoption(
        "--warren-keep",
        action="store_true",
        default=False,
        help="keep a lab running when one of its tests failed (remove it with `warren down`)",
    )
    group.addoption(
        "--warren-results",
        metavar="DIR",
        help="folder for the labs' evidence (default: each file's results:, else ./results)",
    )
    group.addoption(
        "--warren-lab-scope",
        choices=_SCOPES,
        default=None,
        help="how long a lab lives: module (default) or session",
    )
    parser.addini("warren_lab_scope", "module (default) or session", default="module")


def pytest_configure(config: pytest.Config) -> None:
    """Registers the marker and the list of kept labs."""
    config.addinivalue_line(
        "markers",
        "warren_lab(path, name=None, results=None, replace=False, env=None): "
        "the lab file the warren_lab fixture brings up (relative to the test's folder)",
    )
    config.stash[_KEPT] = []


def _scope(config: pytest.Config) -> str:
    scope = config.getoption("warren_lab_scope") or config.getini("warren_lab_scope")
    if scope not in _SCOPES:
        raise pytest.UsageError(f"warren_lab_scope must be module or session, not {scope!r}")
    return str(scope)


def _spec(request: pytest.FixtureRequest) -> LabSpec:
    config = request.config
    marker = request.node.get_closest_marker("warren_lab")
    results = config.getoption("warren_results")
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError("@pytest.mark.warren_lab takes one lab file")
        path = Path(os.fspath(marker.args[0]))
        if not path.is_absolute():
            path = Path(request.node.path).parent / path
        options: dict[str, Any] = dict(marker.kwargs)
        unknown = set(options) - {"name", "results", "replace", "env"}
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.warren_lab: unknown options {sorted(unknown)}")
    else:
        named = config.getoption("warren_lab")
        if not named:
            raise pytest.UsageError(
                f"{request.node.nodeid} uses warren_lab but names no lab: "
                "add @pytest.mark.warren_lab('lab.yaml') or pass --warren-lab FILE"
            )
        path = Path(named)
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        options = {}
    chosen = options.get("results", results)
    return LabSpec(
        path=path.resolve(),
        name=options.get("name"),
        results=None if chosen is None else os.fspath(chosen),
        replace=bool(options.get("replace", False)),
        env=tuple(sorted(dict(options.get("env") or {}).items())),
    )


@pytest.fixture(scope="session")
def _warren_session_pool(request: pytest.FixtureRequest) -> Iterator[_Pool]:
    pool = _Pool()
    yield pool
    pool.close(request.config)


@pytest.fixture(scope="module")
def _warren_module_pool(
    request: pytest.FixtureRequest, _warren_session_pool: _Pool
) -> Iterator[_Pool]:
    if _scope(request.config) == "session":
        yield _warren_session_pool
        return
    pool = _Pool()
    yield pool
    pool.close(request.config)


@pytest.fixture
def warren_lab(request: pytest.FixtureRequest, _warren_module_pool: _Pool) -> Lab:
    """The running lab this test's marker (or ``--warren-lab``) names."""
    running = _warren_module_pool.get(_spec(request))
    request.node.stash[_USED] = running
    # The item's properties go into every report of it, and JUnit XML.
    request.node.user_properties.append(("warren_results", str(running.lab.results)))
    return running.lab


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attaches the lab's results folder to the report and remembers a
    failure, for ``--warren-keep``."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    running = item.stash.get(_USED, None)
    if running is None:
        return
    if report.when == "call":
        report.sections.append(
            ("warren", f"lab {running.lab.name}: results in {running.lab.results}")
        )
    if report.failed:
        running.failed = True


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Says which labs ``--warren-keep`` kept and how to remove them."""
    for lab in config.stash.get(_KEPT, []):
        terminalreporter.write_line(
            f"warren: kept lab {lab.name} after a failure (results in {lab.results}); "
            f"`warren down {lab.name}` removes it"
        )
