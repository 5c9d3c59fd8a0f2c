#!/usr/bin/env bash
# The README's test command (and CI's): set up .venv with the test server, then lint, type-check
# and run every test. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-server
echo "== ruff"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
QCRD_PROGRESS=0 exec .venv/bin/python -m pytest "$@"
