#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (idempotent; fast when nothing changed).
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
requirements=requirements.txt
[ "${1:-}" = "--test" ] && requirements=requirements-test.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-nodeps.txt "$requirements" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  # torch first, alone, so that nothing below can pull a CUDA build of it.
  .venv/bin/python -m pip install --disable-pip-version-check -q torch==2.13.0
  .venv/bin/python -m pip install --disable-pip-version-check -q -r "$requirements"
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
  touch "$stamp"
fi
# Browser tests drive Debian's Chromium (`playwright install` needs the network).
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium
fi
