"""Automatic scorer for generated shape images: does the picture show what the prompt asked?

Hand-written image analysis, no learning, so that it judges a model without sharing its
mistakes. Built to tolerate what a small diffusion model produces (noise, soft edges,
colour drift): colours are classified to the nearest named colour, the shape is the
largest connected region that differs from the border colour, and its kind is chosen by
overlap (IoU) with each canonical shape stretched to the region's bounding box, blurred
as much as the image's edges are soft (blur rounds a small star into a diamond-like blob,
so sharp templates alone would misjudge it).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from training.shapes_data import COLOURS, POSITIONS, SHAPES, SIZE_PIXELS, parse_prompt, shape_mask

_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], dtype=np.float32)  # [K,3]

# Size boundary between "small" and "large" as a fraction of the image side (44/128).
_SIZE_SPLIT = (SIZE_PIXELS["small"] + SIZE_PIXELS["large"]) / 2 / 128
_MIN_AREA_FRAC = 0.006  # ~100 px at 128: smaller regions are specks, not shapes
_FIRST_THRESHOLD = 40.0  # RGB distance from the background for the first, rough mask
_MIN_GAP = 45.0  # least RGB distance of shape from background (palette pairs are >= 95)
_MIN_CONSISTENCY = 0.5  # share of region pixels that are a bg/shape colour mix
_MIN_OBJECT_IOU = 0.35  # below this the region is no shape at all (noise, clutter)
_MIN_SHAPE_IOU = 0.6  # below this the region is an object but of no known kind


@dataclass
class Detected:
    shape: str | None
    colour: str | None
    background: str | None
    position: str | None
    size: str | None
    mask: np.ndarray  # bool HxW, the shape's pixels
    shape_iou: float = 0.0  # IoU of the mask with the best template


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(a, b).sum() / union)


def nearest_colour(rgb) -> str:
    """Name of the palette colour nearest (Euclidean RGB) to one colour."""
    d = ((_PALETTE - np.asarray(rgb, dtype=np.float32)) ** 2).sum(-1)
    return _NAMES[int(d.argmin())]


def nearest_colour_indices(pixels: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES of the nearest palette colour, for each of N RGB pixels [N,3]."""
    return ((pixels[:, None, :] - _PALETTE[None]) ** 2).sum(-1).argmin(-1)


def _box_blur3(arr: np.ndarray) -> np.ndarray:
    """3x3 mean filter (edge-replicated) of an HxWxC array: cuts pixel noise ~3x."""
    p = np.pad(arr, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = arr.shape[:2]
    return sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9.0


def _erode(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[0], out[-1], out[:, 0], out[:, -1] = False, False, False, False
    return out


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of a boolean mask (BFS over its pixels)."""
    h, w = mask.shape
    todo = set(np.flatnonzero(mask).tolist())
    best: list[int] = []
    while todo and len(todo) > len(best):
        start = todo.pop()
        comp = [start]
        queue = deque([start])
        while queue:
            i = queue.popleft()
            y, x = divmod(i, w)
            for j, ok in ((i - w, y > 0), (i + w, y < h - 1), (i - 1, x > 0), (i + 1, x < w - 1)):
                if ok and j in todo:
                    todo.remove(j)
                    comp.append(j)
                    queue.append(j)
        if len(comp) > len(best):
            best = comp
    out = np.zeros(h * w, dtype=bool)
    out[best] = True
    return out.reshape(h, w)


def _grid_cell(cx: float, cy: float, w: int, h: int) -> str:
    col = min(int(3 * cx / w), 2)
    row = min(int(3 * cy / h), 2)
    return POSITIONS[3 * row + col]


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _soft_template(shape: str, box, size_wh: tuple[int, int], sigma: float) -> np.ndarray:
    """A shape's coverage as detect() would see it after a Gaussian blur of `sigma` px."""
    cov = shape_mask(shape, box, size_wh)
    if sigma > 0:
        im = Image.fromarray(np.round(cov * 255).astype(np.uint8), "L")
        cov = np.asarray(im.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255
    return _box_blur3(cov[..., None])[..., 0]


def _edge_width(alpha: np.ndarray, mask: np.ndarray) -> float:
    """Pixels of soft edge (coverage 0.15..0.85) near the mask's outline, per outline pixel."""
    near, inner = mask, mask
    for _ in range(5):
        near, inner = _dilate(near), _erode(inner)
    band = ((alpha > 0.15) & (alpha < 0.85) & near & ~inner).sum()
    return float(band) / max(int((mask & ~_erode(mask)).sum()), 1)


_BLUR_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
_blur_widths: list[float] = []


def _estimate_blur(alpha: np.ndarray, mask: np.ndarray) -> float:
    """Gaussian sigma (px) whose soft edges are as wide as this image's."""
    if not _blur_widths:  # calibrate once on a blurred circle
        for sigma in _BLUR_LEVELS:
            a = _soft_template("circle", (34, 34, 94, 94), (128, 128), sigma)
            _blur_widths.append(_edge_width(a, a >= 0.5))
    return float(np.interp(_edge_width(alpha, mask), _blur_widths, _BLUR_LEVELS))


def _fitted_template(shape: str, box, size_wh: tuple[int, int], sigma: float) -> np.ndarray:
    """Thresholded blurred template whose bounding box matches `box` (blur eats tips)."""
    t = _soft_template(shape, box, size_wh, sigma) >= 0.5
    if t.any():
        ys, xs = np.nonzero(t)
        x0, y0, x1, y1 = box
        # Push each side out by as much as the blur pulled it in, then redraw.
        box = (2 * x0 - xs.min(), 2 * y0 - ys.min(), 2 * x1 - xs.max() - 1, 2 * y1 - ys.max() - 1)
        t = _soft_template(shape, box, size_wh, sigma) >= 0.5
    return t


def _match_shape(mask: np.ndarray, box: tuple[int, int, int, int],
                 sigma: float) -> tuple[str, float]:
    """Best template and its IoU: each shape stretched to the box, or square-scaled in it."""
    h, w = mask.shape
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    boxes = [box] if x1 - x0 == y1 - y0 else [box, (cx - half, cy - half, cx + half, cy + half)]
    best, best_iou = SHAPES[0], -1.0
    for shape in SHAPES:
        for b in boxes:
            iou = mask_iou(mask, _fitted_template(shape, b, (w, h), sigma))
            if iou > best_iou:
                best, best_iou = shape, iou
    return best, best_iou


def detect(image: Image.Image) -> Detected:
    """Find the single shape in an image and name its kind, colour, position and size.

    Attributes that cannot be told are None: a flat or noise image gives no shape, and a
    region that matches no template well gives colour/position/size but shape None.
    """
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = arr.shape[:2]
    smooth = _box_blur3(arr)

    # Background: the most common named colour along a thin border, then the median of
    # those border pixels as its actual value (the model's drift included).
    b = max(2, min(h, w) // 64)
    border = np.concatenate([smooth[:b].reshape(-1, 3), smooth[-b:].reshape(-1, 3),
                             smooth[:, :b].reshape(-1, 3), smooth[:, -b:].reshape(-1, 3)])
    idx = nearest_colour_indices(border)
    bg_i = int(np.bincount(idx, minlength=len(_NAMES)).argmax())
    bg_rgb = np.median(border[idx == bg_i], axis=0)
    background = _NAMES[bg_i]
    nothing = Detected(None, None, background, None, None, np.zeros((h, w), dtype=bool))

    min_area = _MIN_AREA_FRAC * h * w
    d_bg = np.linalg.norm(smooth - bg_rgb, axis=-1)
    rough = _largest_component(d_bg > _FIRST_THRESHOLD)
    if rough.sum() < min_area:
        return nothing

    # Shape colour from the region's interior; then split every pixel by whichever of the
    # two colours it is nearer to, which puts soft edges at their midpoint.
    core = _erode(rough)
    fg_rgb = np.median(smooth[core if core.sum() >= min_area / 4 else rough], axis=0)
    d_fg = np.linalg.norm(smooth - fg_rgb, axis=-1)
    mask = _largest_component(d_fg < d_bg)
    area = int(mask.sum())
    if area < min_area:
        return nothing
    gap = float(np.linalg.norm(fg_rgb - bg_rgb))
    if gap < _MIN_GAP or nearest_colour(fg_rgb) == background:
        return nothing  # no colour contrast: texture or noise, not a shape
    # A real shape's pixels, soft edges included, are mixes of the two colours: they lie
    # near the background-to-shape colour segment. Noise and texture scatter off it.
    t = ((smooth - bg_rgb) * (fg_rgb - bg_rgb)).sum(-1) / gap**2
    off_line = np.linalg.norm(smooth - bg_rgb - t[..., None] * (fg_rgb - bg_rgb), axis=-1)
    consistency = float((off_line[mask] < max(_FIRST_THRESHOLD, 0.35 * gap)).mean())
    if consistency < _MIN_CONSISTENCY:
        return nothing
    alpha = np.clip(t, 0.0, 1.0)

    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    sigma = _estimate_blur(alpha, mask)
    # Match in a crop around the shape: same result, far fewer pixels to draw and blur.
    m = int(3 * sigma) + 4
    cx0, cy0 = max(box[0] - m, 0), max(box[1] - m, 0)
    crop = mask[cy0:box[3] + m, cx0:box[2] + m]
    shape, iou = _match_shape(crop, (box[0] - cx0, box[1] - cy0, box[2] - cx0, box[3] - cy0), sigma)
    if iou < _MIN_OBJECT_IOU:
        return nothing
    # Colour from the more solid half of the region (soft edges lean to the background).
    solid = mask & (t >= np.median(t[mask]))
    side = max(box[2] - box[0], box[3] - box[1]) / max(w, h)
    return Detected(
        shape=shape if iou >= _MIN_SHAPE_IOU else None,
        colour=nearest_colour(np.median(arr[solid], axis=0)),
        background=background,
        position=_grid_cell((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, w, h),
        size="large" if side > _SIZE_SPLIT else "small",
        mask=mask,
        shape_iou=iou,
    )


def score(image: Image.Image | Detected, wanted: dict[str, str] | str) -> dict[str, bool]:
    """For each attribute in `wanted` (a dict or a prompt), whether the image shows it."""
    if isinstance(wanted, str):
        wanted = parse_prompt(wanted)
    det = image if isinstance(image, Detected) else detect(image)
    aliases = {"center": "centre", "middle": "centre", "grey": "gray"}
    return {k: aliases.get(v, v) == getattr(det, k) for k, v in wanted.items()}
