"""Automatic evaluation of a shapes model, run through the real executor and core nodes.

Text-to-image: varied prompts and seeds, each image scored for the attributes its prompt
asks for (shape colour, background colour, shape kind, position, size). Img2img recolour:
a drawn shape, a prompt naming another colour at denoise 0.6; scored for the new colour
and for keeping the shape where it was (mask IoU).
"""
from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from executor.run import Executor
from nodes.folders import Folders
from training.shape_scoring import detect, mask_iou, score
from training.shapes_data import COLOURS, Scene, caption, parse_prompt, random_scene, render

ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTES = ("colour", "background", "shape", "position", "size")


@dataclass
class Generation:
    prompt: str
    seed: int
    wanted: dict
    scores: dict
    image: Image.Image
    seconds: float


@dataclass
class Report:
    generations: list[Generation] = field(default_factory=list)
    recolours: list[dict] = field(default_factory=list)

    def accuracy(self, attribute: str) -> Optional[float]:
        marks = [g.scores[attribute] for g in self.generations if attribute in g.scores]
        return sum(marks) / len(marks) if marks else None

    def recolour_accuracy(self) -> Optional[float]:
        return sum(r["colour_ok"] for r in self.recolours) / len(self.recolours) if self.recolours else None

    def mean_iou(self) -> Optional[float]:
        return float(np.mean([r["iou"] for r in self.recolours])) if self.recolours else None

    def iou_pass_rate(self, threshold: float = 0.7) -> Optional[float]:
        return sum(r["iou"] >= threshold for r in self.recolours) / len(self.recolours) if self.recolours else None

    def summary(self) -> dict:
        seconds = [g.seconds for g in self.generations]
        return {
            "generations": len(self.generations),
            **{f"{a}_accuracy": self.accuracy(a) for a in ATTRIBUTES},
            "img2img_recolours": len(self.recolours),
            "img2img_colour_accuracy": self.recolour_accuracy(),
            "img2img_mean_iou": self.mean_iou(),
            "img2img_iou_at_least_0.7": self.iou_pass_rate(),
            "median_seconds_per_image": float(np.median(seconds)) if seconds else None,
        }


def eval_prompts(count: int, seed: int) -> list[tuple[str, dict]]:
    """Varied phrasings that name shape, colour, background and position (size at times)."""
    rng = random.Random(seed)
    prompts = []
    while len(prompts) < count:
        text = caption(random_scene(rng), rng)
        wanted = parse_prompt(text)
        if {"shape", "colour", "background", "position"} <= set(wanted):
            prompts.append((text, wanted))
    return prompts


def _workflow(name: str, ckpt: str) -> dict:
    prompt = json.loads((ROOT / "workflows" / name).read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    return prompt


def _run(executor: Executor, prompt: dict, folders: Folders) -> tuple[Image.Image, float]:
    started = time.perf_counter()
    result = executor.run(prompt)
    seconds = time.perf_counter() - started
    if result.status != "success":
        raise RuntimeError(f"generation failed: {result.error}")
    record = result.outputs["9"]["images"][0]
    with Image.open(folders.output / record["subfolder"] / record["filename"]) as image:
        return image.convert("RGB"), seconds


def evaluate(
    checkpoint: Path,
    count: int = 200,
    recolours: int = 40,
    seed: int = 2024,
    steps: Optional[int] = None,
) -> Report:
    """Generate and score `count` text-to-image samples and `recolours` img2img recolours."""
    base = Path(tempfile.mkdtemp(prefix="shapes-eval-"))
    folders = Folders.under(base)
    folders.input.mkdir(parents=True)
    (folders.models / "checkpoints").mkdir(parents=True)
    shutil.copyfile(checkpoint, folders.models / "checkpoints" / Path(checkpoint).name)
    executor = Executor(folders)
    report = Report()
    txt2img = _workflow("txt2img.json", Path(checkpoint).name)
    if steps:
        txt2img["3"]["inputs"]["steps"] = steps
    for i, (text, wanted) in enumerate(eval_prompts(count, seed)):
        txt2img["6"]["inputs"]["text"] = text
        txt2img["3"]["inputs"]["seed"] = seed * 1000 + i
        image, seconds = _run(executor, txt2img, folders)
        report.generations.append(Generation(text, seed * 1000 + i, wanted, score(image, wanted), image, seconds))

    img2img = _workflow("img2img.json", Path(checkpoint).name)
    if steps:
        img2img["3"]["inputs"]["steps"] = steps
    rng = random.Random(seed + 1)
    colours = list(COLOURS)
    for i in range(recolours):
        scene = random_scene(rng)
        new_colour = rng.choice([c for c in colours if c not in (scene.colour, scene.background)])
        source = render(scene)
        name = f"recolour_{i}.png"
        source.save(folders.input / name)
        target = Scene(scene.shape, new_colour, scene.background, scene.size, scene.position)
        text = f"a {new_colour} {scene.shape} on a {scene.background} background"
        img2img["10"]["inputs"]["image"] = name
        img2img["6"]["inputs"]["text"] = text
        img2img["3"]["inputs"].update(seed=seed * 1000 + i, denoise=0.6)
        image, _ = _run(executor, img2img, folders)
        before, after = detect(source), detect(image)
        report.recolours.append({
            "prompt": text, "from": scene.colour, "to": new_colour, "detected": after.colour,
            "colour_ok": after.colour == target.colour, "iou": mask_iou(before.mask, after.mask),
            "source": source, "image": image,
        })
    return report


def vae_round_trip(checkpoint: Path, count: int = 200, seed: int = 7) -> dict:
    """Score the checkpoint's VAE alone: drawn scenes encoded and decoded, each judged
    like a generation. The shape and colour it keeps here bound what the whole model can
    reach, so this tells a VAE shortfall from a UNet one."""
    import torch

    from diffusion.loader import load_vae

    vae = load_vae(checkpoint, device=torch.device("cpu"), dtype=torch.float32)
    rng = random.Random(seed)
    scenes = [random_scene(rng) for _ in range(count)]
    sources = [render(scene, rng=rng) for scene in scenes]
    marks: dict[str, list[bool]] = {a: [] for a in ATTRIBUTES}
    ious = []
    for start in range(0, count, 20):
        batch = np.stack([np.asarray(image, dtype=np.float32) / 255 for image in sources[start:start + 20]])
        decoded = vae.decode(vae.encode(torch.from_numpy(batch)))  # IMAGE [B,H,W,3] in 0..1
        for k, array in enumerate((decoded.numpy() * 255).round().astype(np.uint8)):
            scene, source, image = scenes[start + k], sources[start + k], Image.fromarray(array)
            wanted = {a: getattr(scene, a) for a in ATTRIBUTES}
            for attribute, ok in score(image, wanted).items():
                marks[attribute].append(ok)
            ious.append(mask_iou(detect(source).mask, detect(image).mask))
    return {**{f"{a}_accuracy": sum(v) / len(v) for a, v in marks.items()}, "mean_iou": float(np.mean(ious))}


def save_grid(report: Report, path: Path, columns: int = 8, limit: int = 48) -> None:
    """Samples with their prompts (wrong attributes listed in red), then recolour pairs."""
    cell, caption_h = 128, 46
    items = [(g.image, g.prompt, [a for a, ok in g.scores.items() if not ok]) for g in report.generations[:limit]]
    for r in report.recolours[: columns * 2]:
        items.append((r["source"], f"img2img source ({r['from']})", []))
        items.append((r["image"], f"{r['prompt']} (IoU {r['iou']:.2f})", [] if r["colour_ok"] else ["colour"]))
    rows = (len(items) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, rows * (cell + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (image, text, wrong) in enumerate(items):
        x, y = (k % columns) * cell, (k // columns) * (cell + caption_h)
        sheet.paste(image.resize((cell, cell)), (x, y))
        words, lines = text.split(), [""]
        for word in words:
            if len(lines[-1]) + len(word) + 1 > 24:
                lines.append("")
            lines[-1] = (lines[-1] + " " + word).strip()
        draw.multiline_text((x + 2, y + cell + 1), "\n".join(lines[:3]), fill=(0, 0, 0), spacing=1)
        if wrong:
            draw.text((x + 2, y + 2), "wrong: " + ",".join(wrong), fill=(255, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
