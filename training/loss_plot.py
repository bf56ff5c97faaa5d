"""A loss-curve image drawn with Pillow (no plotting library needed)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def smooth(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def save_loss_plot(curves: dict[str, Sequence[float]], path: Path, width: int = 900, height: int = 300) -> None:
    """One panel per curve (log-scale y, smoothed), side by side."""
    panels = [(name, list(values)) for name, values in curves.items() if values]
    if not panels:
        return
    image = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(image)
    for p, (name, values) in enumerate(panels):
        left, top, right, bottom = p * width + 60, 30, (p + 1) * width - 20, height - 40
        data = smooth(values, max(1, len(values) // 50))
        logs = [math.log10(max(v, 1e-8)) for v in data]
        lo, hi = min(logs), max(logs)
        hi = hi if hi > lo else lo + 1
        draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
        draw.text((left, 8), f"{name} loss (log scale, smoothed); last {data[-1]:.4g}", fill=(0, 0, 0))
        for frac in (0.0, 0.5, 1.0):
            y = bottom - frac * (bottom - top)
            draw.text((p * width + 4, y - 6), f"{10 ** (lo + frac * (hi - lo)):.3g}", fill=(80, 80, 80))
        draw.text((left, bottom + 8), "step 0", fill=(80, 80, 80))
        draw.text((right - 60, bottom + 8), f"step {len(values)}", fill=(80, 80, 80))
        points = [
            (left + (right - left) * i / max(1, len(logs) - 1), bottom - (bottom - top) * (v - lo) / (hi - lo))
            for i, v in enumerate(logs)
        ]
        draw.line(points, fill=COLOURS[p % len(COLOURS)], width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
