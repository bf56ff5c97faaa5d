#!/usr/bin/env bash
# Set up (first time) and run the default text-to-image workflow on the built-in model.
# Extra arguments go to `main.py run`, e.g.: ./run.sh --set 6.text="a green star" --set 3.seed=7
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/python scripts/ensure_default_model.py
exec .venv/bin/python main.py run workflows/txt2img.json --output-dir output "$@"
