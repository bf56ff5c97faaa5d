"""The detail fixer on the built-in model, and the detectors' speed on a real photograph.

Small shapes drawn on a canvas below the model's 128 px come out as the wrong kind more
often; `workflows/txt2img_shape_fix.json` finds each shape by its colour (MASK to SEGS),
re-draws its region at 128 px and pastes it back. This prints the scorer's shape-kind
accuracy on small shapes without and with that pass (same images: the plain one is saved
before the detailer), the time per detailed region, and each detector's time on
scikit-image's astronaut photograph.

Run: python -m bench.detailer [--count 100] [--size 96]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def shape_fix_accuracy(count: int, size: int, seed: int) -> dict:
    from executor.run import Executor
    from nodes.folders import Folders
    from training.shape_scoring import score
    from training.shapes_data import COLOURS, Scene, parse_prompt, random_scene
    from training.train import DEFAULT_NAME

    base = Path(tempfile.mkdtemp(prefix="bench_detailer_"))
    folders = Folders.under(base)
    (folders.models / "checkpoints").mkdir(parents=True)
    shutil.copyfile(ROOT / "models" / "checkpoints" / DEFAULT_NAME, folders.models / "checkpoints" / DEFAULT_NAME)
    workflow = json.loads((ROOT / "workflows" / "txt2img_shape_fix.json").read_text())
    workflow["5"]["inputs"].update(width=size, height=size)
    workflow["10"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "plain"}}
    plain_only = {k: v for k, v in workflow.items() if k not in ("9", "20", "21", "22", "23")}
    executor = Executor(folders)
    rng = random.Random(seed)
    plain = fixed = regions = 0
    plain_seconds, fixed_seconds = [], []

    def image(result, node: str) -> Image.Image:
        record = result.outputs[node]["images"][0]
        with Image.open(folders.output / record["subfolder"] / record["filename"]) as picture:
            return picture.convert("RGB")

    for index in range(count):
        drawn = random_scene(rng)
        scene = Scene(drawn.shape, drawn.colour, drawn.background, "small", drawn.position)
        text = f"a small {scene.colour} {scene.shape} on a {scene.background} background"
        red, green, blue = COLOURS[scene.colour]
        workflow["6"]["inputs"]["text"] = text
        workflow["3"]["inputs"]["seed"] = seed * 1000 + index
        workflow["20"]["inputs"]["color"] = f"#{red:02x}{green:02x}{blue:02x}"
        workflow["23"]["inputs"]["wildcard"] = \
            f"a large {scene.colour} {scene.shape} in the centre on a {scene.background} background"
        plain_only["6"], plain_only["3"] = workflow["6"], workflow["3"]
        started = time.perf_counter()
        executor.run(plain_only)  # the image alone; the full workflow then re-uses it from the cache
        plain_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = executor.run(workflow)
        fixed_seconds.append(time.perf_counter() - started)  # the detail pass alone
        if result.status != "success":
            raise RuntimeError(f"generation failed: {result.error}")
        wanted = parse_prompt(text)
        plain += score(image(result, "10"), wanted)["shape"]
        fixed += score(image(result, "9"), wanted)["shape"]
        regions += sum(line.count(" -> ") for line in result.outputs["23"].get("text", []))
    shutil.rmtree(base, ignore_errors=True)
    return {"images": count, "canvas": size, "plain_shape_accuracy": plain / count,
            "detailed_shape_accuracy": fixed / count, "regions_detailed": regions,
            "seconds_per_region": sum(fixed_seconds) / max(1, regions),
            "median_seconds_plain": statistics.median(plain_seconds),
            "median_seconds_detail_pass": statistics.median(fixed_seconds)}


def detector_times(repeats: int = 5) -> dict:
    from skimage import data

    from detection.builtin import BUILTIN_DETECTORS, builtin_detector

    picture = data.astronaut()
    times = {}
    for name in BUILTIN_DETECTORS:
        detector = builtin_detector(name)
        started = time.perf_counter()
        first = detector.detect(picture, 0.5)
        load = time.perf_counter() - started
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            detector.detect(picture, 0.5)
            runs.append(time.perf_counter() - started)
        times[name] = {"found": len(first), "first_call_s": load, "median_s": statistics.median(runs)}
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size", type=int, default=96, help="canvas side of the full-frame pass")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    times = detector_times()
    print("detectors on skimage.data.astronaut() (512x512), median of 5 after a first call:")
    for name, row in times.items():
        print(f"  {name:<38} {row['median_s'] * 1000:7.1f} ms  (first call {row['first_call_s'] * 1000:.0f} ms, "
              f"{row['found']} found)")
    figures = shape_fix_accuracy(args.count, args.size, args.seed)
    print(f"built-in model, {figures['images']} small shapes on a {figures['canvas']} px canvas "
          f"(workflows/txt2img_shape_fix.json):")
    print(f"  shape-kind accuracy without the detail pass {figures['plain_shape_accuracy']:.1%}, "
          f"with it {figures['detailed_shape_accuracy']:.1%}")
    print(f"  {figures['regions_detailed']} regions re-drawn, {figures['seconds_per_region']:.2f} s per region; "
          f"median per image {figures['median_seconds_plain']:.2f} s to generate, "
          f"{figures['median_seconds_detail_pass']:.2f} s for the detail pass")
    if args.json:
        Path(args.json).write_text(json.dumps({"detectors": times, "shape_fix": figures}, indent=1))


if __name__ == "__main__":
    main()
