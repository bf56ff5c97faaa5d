"""Evaluate the built-in shapes model: accuracies over many prompts and seeds, img2img
recolour, time per image, and a grid of samples with their prompts.

Run: python -m bench.builtin_model_eval [--checkpoint PATH] [--count 200] [--recolours 40]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from training.evaluate import ATTRIBUTES, evaluate, save_grid, vae_round_trip  # noqa: E402
from training.train import DEFAULT_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"colour": 0.95, "background": 0.95, "shape": 0.85, "position": 0.85}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "checkpoints" / DEFAULT_NAME))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--recolours", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--grid", default=str(ROOT / "bench" / "output" / "builtin_samples.png"))
    args = parser.parse_args()
    started = time.perf_counter()
    report = evaluate(Path(args.checkpoint), args.count, args.recolours, args.seed)
    summary = report.summary()
    print(f"checkpoint {args.checkpoint}: {summary['generations']} text-to-image generations")
    for attribute in ATTRIBUTES:
        value = summary[f"{attribute}_accuracy"]
        target = TARGETS.get(attribute)
        if value is not None:
            goal = f"  (target {target:.0%})" if target else ""
            print(f"  {attribute:<11} accuracy {value:6.1%}{goal}")
    print(f"img2img recolour at denoise 0.6, {summary['img2img_recolours']} images: colour "
          f"{summary['img2img_colour_accuracy']:.1%}, mask IoU mean {summary['img2img_mean_iou']:.2f}, "
          f"IoU >= 0.7 in {summary['img2img_iou_at_least_0.7']:.1%} (target IoU >= 0.7)")
    print(f"median time per text-to-image generation (executor, 20 steps, PNG saved): "
          f"{summary['median_seconds_per_image']:.2f} s")
    ceiling = vae_round_trip(Path(args.checkpoint))
    print("VAE alone (200 drawn scenes encoded and decoded, the ceiling for the above): "
          + ", ".join(f"{a} {ceiling[f'{a}_accuracy']:.1%}" for a in ATTRIBUTES)
          + f", mask IoU {ceiling['mean_iou']:.2f}")
    save_grid(report, Path(args.grid))
    Path(args.grid).with_suffix(".json").write_text(json.dumps({**summary, "vae_round_trip": ceiling}, indent=1))
    print(f"grid: {args.grid}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
