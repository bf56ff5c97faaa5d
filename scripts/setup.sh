#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (idempotent; fast when nothing changed).
# Usage: scripts/setup.sh [--test] [--comfy-frontend] [--ray]
#   --test            also the test tools (and ComfyUI's frontend and Ray, which the tests drive)
#   --comfy-frontend  also ComfyUI's own editor, for `main.py serve --front-end comfy`
#   --ray             also Ray, for `main.py serve --ray ...` (workers on a Ray cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
test_tools=0
requirements=(requirements.txt)
for flag in "$@"; do
  case "$flag" in
    --test) test_tools=1; requirements=(requirements-test.txt) ;;
    --comfy-frontend) requirements+=(requirements-comfy-frontend.txt) ;;
    --ray) requirements+=(requirements-ray.txt) ;;
    *) echo "setup.sh: unknown flag $flag" >&2; exit 2 ;;
  esac
done
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt requirements-nodeps.txt requirements-comfy-frontend.txt requirements-ray.txt "${requirements[@]}" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  # torch first, alone, so that nothing below can pull a CUDA build of it.
  .venv/bin/python -m pip install --disable-pip-version-check -q torch==2.13.0
  for file in "${requirements[@]}"; do
    .venv/bin/python -m pip install --disable-pip-version-check -q -r "$file"
  done
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
  touch "$stamp"
fi
# Browser tests drive Debian's Chromium (`playwright install` needs the network); a CJK
# font makes screenshots of the Chinese interface readable instead of boxes.
if [ "$test_tools" = 1 ]; then
  packages=()
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || packages+=(fonts-noto-cjk)
  if [ "${#packages[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${packages[@]}"
  fi
fi
