#!/usr/bin/env bash
# The Python client's part of the suite (scripts/test runs it after
# nextest): builds the wheel with `pip wheel`, installs it into a venv of its
# own under target/, lints it (ruff, mypy --strict), then runs its tests and
# examples/python against real labs with pytest. Needs root, like every test
# that builds labs; any failure fails the script.
#
#   python/test.sh [PYTEST ARGS...]
#
# The tests start the registry fixture (scripts/fixtures/registry.sh) and
# leave it running for whoever else uses it; scripts/test stops it at the end.
#
# Settings: WARREN_BIN (default target/debug/warren, built here when
# missing), WARREN_PY_VENV (default target/python-venv), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

venv=${WARREN_PY_VENV:-$repo/target/python-venv}
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
py=$venv/bin/python
# The tools are pinned so that a new release's rules cannot fail the build.
"$py" -m pip install -q --disable-pip-version-check pytest==9.2.0 mypy==2.4.1 ruff==0.17.6

echo "== python: wheel" >&2
wheels=$repo/target/python-wheel
rm -rf "$wheels" python/build
"$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$wheels" ./python
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/warren_lab-*.whl
rm -rf python/build python/src/*.egg-info

echo "== python: ruff, mypy --strict" >&2
"$venv/bin/ruff" check --config python/pyproject.toml python examples/python
"$venv/bin/ruff" format --config python/pyproject.toml --check python examples/python
(cd python && "$venv/bin/mypy" --config-file pyproject.toml src tests ../examples/python)

export WARREN_BIN=${WARREN_BIN:-$repo/target/debug/warren}
if [ ! -x "$WARREN_BIN" ]; then
  cargo build -p warren-cli
fi

echo "== python: pytest python/tests" >&2
"$py" -m pytest -p no:cacheprovider python/tests "$@"

echo "== python: pytest examples/python" >&2
# As examples/allkinds.yaml is run: a copy with the DUT's kernel and
# initrd beside the lab file.
example=$(mktemp -d)
trap 'rm -rf "$example"' EXIT
dut=${WARREN_VM_FIXTURE:-$(bash scripts/fixtures/dut.sh | tail -n1)}
cp examples/python/dut.yaml examples/python/test_dut.py "$example"/
cp "$dut/vmlinuz" "$dut/initrd.gz" "$example"/
(cd "$example" && "$py" -m pytest -p no:cacheprovider --warren-results="$example/results" test_dut.py)
# Its lab file's own tests: section, as every file in examples/ passes it.
"$WARREN_BIN" test -q --results "$example/results" "$example/dut.yaml"
