#!/usr/bin/env bash
# Set up (first time) and start the server on http://127.0.0.1:8188 with the built-in model.
# Arguments go to `main.py serve`, e.g.: ./run.sh --port 8190 --preview-method auto
# `./run.sh --front-end comfy` installs (first time) and serves ComfyUI's own editor;
# `./run.sh --ray local --workers 2` installs Ray (first time) and runs prompts on 2 workers.
set -euo pipefail
cd "$(dirname "$0")"
setup_flags=()
previous=""
for arg in "$@"; do
  if [ "$arg" = "--front-end=comfy" ] || { [ "$previous" = "--front-end" ] && [ "$arg" = "comfy" ]; }; then
    setup_flags+=(--comfy-frontend)
  fi
  case "$arg" in --ray|--ray=*) setup_flags+=(--ray) ;; esac
  previous="$arg"
done
scripts/setup.sh "${setup_flags[@]+"${setup_flags[@]}"}"
export HF_HUB_OFFLINE=1
exec .venv/bin/python main.py serve "$@"
