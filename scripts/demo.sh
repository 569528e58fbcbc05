#!/usr/bin/env bash
# README command 1: set up, build the synthetic demo bucket, run the flow on it, print rows.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mfer demo --dir "${MFER_DEMO_DIR:-demo}" "$@"
