#!/usr/bin/env bash
# The README's main job: set up .venv if needed, then run the whole pipeline on the quickstart
# config (SVAMP with 5 GPT-3.5 rationales per question, SmolLM2-135M student, QCRD).
# Extra arguments are dotted config overrides, e.g. `bash scripts/quickstart.sh train.method=dss`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/qcrd run --config configs/quickstart.yaml "$@"
