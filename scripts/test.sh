#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite (real models included; ~10 min on 2 cores).
# Pass pytest options through, e.g. `bash scripts/test.sh -m "not slow"` for the fast subset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MFER_CACHE="${MFER_CACHE:-$PWD/.cache/mfer}"
export NUMBA_CACHE_DIR="$PWD/.cache/numba" MPLCONFIGDIR="$PWD/.cache/matplotlib" PREFECT_HOME="$PWD/.cache/prefect"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false GX_ANALYTICS_ENABLED=false
exec .venv/bin/python -m pytest "$@"
