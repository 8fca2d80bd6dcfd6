"""Where things are: the ``warren`` binary and a lab's state folder, found
the way the Rust client finds them (``crates/lab/src/binary.rs``,
``crates/lab/src/state.rs``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import WarrenNotFound

#: The environment variable that names the warren binary.
WARREN_BIN = "WARREN_BIN"


def warren_binary() -> Path:
    """``$WARREN_BIN`` when set (and then only it), else the first ``warren``
    on ``PATH``."""
    named = os.environ.get(WARREN_BIN)
    if named:
        if os.path.isfile(named) and os.access(named, os.X_OK):
            return Path(named)
        raise WarrenNotFound(f"${WARREN_BIN}={named} is not an executable file")
    found = shutil.which("warren")
    if found is None:
        raise WarrenNotFound(
            "no warren binary on PATH; build it (`cargo build -p warren-cli`) "
            f"and name it in ${WARREN_BIN}, or install it"
        )
    return Path(found)


def state_root() -> Path:
    """The folder holding every lab's state for this user: ``/run/warren`` as
    root, else ``$XDG_RUNTIME_DIR/warren`` or ``/tmp/warren-<uid>``."""
    uid = os.geteuid()
    if uid == 0:
        return Path("/run/warren")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "warren"
    return Path(f"/tmp/warren-{uid}")


def lab_dir(name: str) -> Path:
    """The state folder of the lab called ``name``."""
    return state_root() / name
