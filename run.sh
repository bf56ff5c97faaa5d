#!/usr/bin/env bash
# Set up (first time) and start the server on http://127.0.0.1:8188 with the built-in model.
# Arguments go to `main.py serve`, e.g.: ./run.sh --port 8190 --preview-method auto
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python main.py serve "$@"
