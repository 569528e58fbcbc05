#!/usr/bin/env bash
# README command 1: set up, build the synthetic demo bucket, run the flow on it (mfer run), print rows.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m scripts.demo_bucket --dir "${MFER_DEMO_DIR:-demo}" "$@"
