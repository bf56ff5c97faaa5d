"""Regions drawn on their image, for previews: tinted masks, crop regions, boxes, labels."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from PIL import Image, ImageDraw

from detection.region_detector import picture_of

_COLOURS = [(255, 64, 64), (64, 200, 255), (255, 210, 40), (120, 255, 120), (255, 120, 255), (255, 150, 60)]


def draw_regions(segs: Any, image: Optional[torch.Tensor], min_alpha: float = 0.2) -> torch.Tensor:
    """[1,H,W,3]: the image (or black) with each region's mask tinted, its crop region as a
    thin frame, its box as a thick one, and `label confidence` above the box."""
    (height, width), items = segs
    base = picture_of(image) if image is not None else np.zeros((height, width, 3), np.uint8)
    canvas = base.astype(np.float32)
    for index, seg in enumerate(items):
        colour = np.array(_COLOURS[index % len(_COLOURS)], np.float32)
        x1, y1, x2, y2 = seg.crop_region
        mask = np.asarray(seg.cropped_mask, np.float32)[: y2 - y1, : x2 - x1]
        alpha = np.where(mask > 0, np.maximum(min_alpha, 0.45 * mask), 0.0)[..., None]
        if min_alpha > 0:
            area = canvas[y1:y1 + mask.shape[0], x1:x1 + mask.shape[1]]
            area[:] = area * (1 - alpha) + colour * alpha
    picture = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for index, seg in enumerate(items):
        colour = _COLOURS[index % len(_COLOURS)]
        draw.rectangle([seg.crop_region[0], seg.crop_region[1], seg.crop_region[2] - 1, seg.crop_region[3] - 1],
                       outline=colour, width=1)
        bx1, by1, bx2, by2 = (int(v) for v in seg.bbox)
        draw.rectangle([bx1, by1, bx2 - 1, by2 - 1], outline=colour, width=2)
        draw.text((bx1 + 2, max(0, by1 - 11)), f"{seg.label} {float(seg.confidence):.2f}", fill=colour)
    return torch.from_numpy(np.asarray(picture, np.float32) / 255.0)[None]
