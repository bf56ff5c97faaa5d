"""Make sure the default checkpoint of the shipped workflows is present.

Until the built-in trained model ships, the default is a tiny random-weight SD1 model in
diffusers-folder form, built here on first start (a few MB, no download). It exercises
the whole pipeline; its images are noise-like.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_checkpoint_name() -> str:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    return prompt["4"]["inputs"]["ckpt_name"]


def main() -> int:
    name = default_checkpoint_name()
    target = ROOT / "models" / "checkpoints" / name
    if target.exists():
        return 0
    from diffusion.types import ModelFamily
    from tests.tiny_models import build_tiny_diffusers_parts, save_diffusers_folder

    parts = build_tiny_diffusers_parts(ModelFamily.SD1, seed=0)
    save_diffusers_folder(parts, target)
    print(f"created placeholder model {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
