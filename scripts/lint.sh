#!/usr/bin/env bash
# Lint and type-check the run-time code (CI runs this before the tests; pyproject.toml holds the settings):
#   ruff check   E, F, W, I, B, UP, SIM over multimodal_fer/, schemas/, flows/; the same but line length over
#                training/, benchmarks/, tests/, scripts/ (pyproject.toml: per-file-ignores)
#   ruff format  multimodal_fer/, schemas/, flows/
#   mypy         the multimodal_fer package
# Uses .venv (scripts/setup.sh installs ruff and mypy from requirements.lock). Fails on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export MYPY_CACHE_DIR="${MYPY_CACHE_DIR:-$PWD/.cache/mypy}" RUFF_CACHE_DIR="${RUFF_CACHE_DIR:-$PWD/.cache/ruff}"
"$PY" -m ruff check multimodal_fer schemas flows training benchmarks tests scripts

"$PY" -m ruff format --check multimodal_fer schemas flows
# mypy cannot run the editable install's import finder: give it the package-dir mapping as links
links=.cache/mypy-path
mkdir -p "$links"
ln -sfn ../../schemas "$links/multimodal_fer_schemas"
ln -sfn ../../flows "$links/multimodal_fer_flows"
MYPYPATH="$PWD/$links" "$PY" -m mypy
