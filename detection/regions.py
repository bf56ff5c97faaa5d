"""Regions of a picture to re-draw (SEGS), built from detections or from masks.

The layout is the Impact Pack's, so workflows and node packs that pass SEGS around see what
they expect: `SEGS = ((height, width), [SEG, ...])`, each SEG holding the crop region (the
part of the picture the detailer re-draws, the object plus context), the object's box, its
mask over the crop region, the detector's confidence and label.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np
import torch

from .types import Detection

SEG = namedtuple("SEG", ["cropped_image", "cropped_mask", "confidence", "crop_region", "bbox", "label",
                         "control_net_wrapper"], defaults=[None])
Box = tuple[int, int, int, int]
Segs = tuple[tuple[int, int], list]


def crop_region(box: Sequence[float], width: int, height: int, crop_factor: float) -> Box:
    """The box grown `crop_factor` times around its centre, moved (not cut) to stay inside
    the picture, and cut only where it is larger than the picture."""
    x1, y1, x2, y2 = (float(v) for v in box)
    crop_w = min(float(width), max(1.0, (x2 - x1) * crop_factor))
    crop_h = min(float(height), max(1.0, (y2 - y1) * crop_factor))
    left = min(max(0.0, (x1 + x2) / 2 - crop_w / 2), width - crop_w)
    top = min(max(0.0, (y1 + y2) / 2 - crop_h / 2), height - crop_h)
    left_i, top_i = int(round(left)), int(round(top))
    right_i = min(width, max(left_i + 1, int(round(left + crop_w))))
    bottom_i = min(height, max(top_i + 1, int(round(top + crop_h))))
    return left_i, top_i, right_i, bottom_i


def dilate_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (positive) or shrink (negative) a mask with a |pixels|-wide square kernel."""
    if abs(pixels) < 2:
        return mask
    kernel = np.ones((abs(pixels), abs(pixels)), np.uint8)
    return cv2.dilate(mask, kernel) if pixels > 0 else cv2.erode(mask, kernel)


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """Integer pixel box inside the picture, at least one pixel wide and high."""
    x1 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, width))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, height))
    return x1, y1, x2, y2


def _crop_image(picture: Optional[torch.Tensor], region: Box) -> Optional[torch.Tensor]:
    if picture is None:
        return None
    x1, y1, x2, y2 = region
    return picture[y1:y2, x1:x2, :].unsqueeze(0).clone()


def make_seg(full_mask: np.ndarray, box: Box, confidence: float, label: str, crop_factor: float,
             picture: Optional[torch.Tensor] = None) -> SEG:
    """One region from a mask over the whole picture and the object's box."""
    height, width = full_mask.shape
    region = crop_region(box, width, height, crop_factor)
    x1, y1, x2, y2 = region
    return SEG(_crop_image(picture, region), np.ascontiguousarray(full_mask[y1:y2, x1:x2], dtype=np.float32),
               float(confidence), region, box, label)


def regions_from_detections(detections: Iterable[Detection], size: tuple[int, int], dilation: int = 0,
                            crop_factor: float = 3.0, drop_size: int = 1, labels: Optional[set[str]] = None,
                            picture: Optional[torch.Tensor] = None) -> Segs:
    """SEGS from detections: the object's own mask (segmenting detectors) or its box,
    dilated; objects narrower or lower than `drop_size` pixels and labels not asked for
    are left out."""
    height, width = size
    segs = []
    for found in detections:
        if labels and found.label not in labels:
            continue
        box = clip_box(found.box, width, height)
        if box[2] - box[0] < drop_size or box[3] - box[1] < drop_size:
            continue
        if found.mask is not None:
            mask = (np.asarray(found.mask, dtype=np.float32) > 0.5).astype(np.float32)
        else:
            mask = np.zeros((height, width), np.float32)
            mask[box[1]:box[3], box[0]:box[2]] = 1.0
        mask = dilate_mask(mask, dilation)
        if not mask.any():
            continue
        segs.append(make_seg(mask, box, found.confidence, found.label, crop_factor, picture))
    return (height, width), segs


def _fill_holes(component: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_fill_holes

    return binary_fill_holes(component)


def mask_to_regions(mask: np.ndarray, combined: bool = False, crop_factor: float = 3.0, bbox_fill: bool = False,
                    drop_size: int = 1, contour_fill: bool = False, label: str = "A",
                    picture: Optional[torch.Tensor] = None) -> Segs:
    """SEGS from a mask: one region per connected part (8-connected, mask >= 0.5), or one
    for all of them (`combined`). `bbox_fill` makes each region's mask its whole box,
    `contour_fill` fills holes inside a part."""
    mask = np.asarray(mask, dtype=np.float32)
    height, width = mask.shape
    binary = (mask >= 0.5).astype(np.uint8)
    if combined:
        parts = [binary.astype(bool)] if binary.any() else []
    else:
        count, labelled, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        order = sorted(range(1, count), key=lambda i: (stats[i, cv2.CC_STAT_TOP], stats[i, cv2.CC_STAT_LEFT]))
        parts = [labelled == i for i in order]
    segs = []
    for part in parts:
        ys, xs = np.nonzero(part)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if box[2] - box[0] < drop_size or box[3] - box[1] < drop_size:
            continue
        if contour_fill:
            part = _fill_holes(part)
        region_mask = part.astype(np.float32)
        if bbox_fill:
            region_mask = np.zeros_like(mask)
            region_mask[box[1]:box[3], box[0]:box[2]] = 1.0
        segs.append(make_seg(region_mask, box, 1.0, label, crop_factor, picture))
    return (height, width), segs


def segs_to_mask(segs: Segs) -> np.ndarray:
    """All regions' masks in one mask over the picture (the largest value where they meet)."""
    (height, width), items = segs
    out = np.zeros((height, width), np.float32)
    for seg in items:
        x1, y1, x2, y2 = seg.crop_region
        crop = np.asarray(seg.cropped_mask, dtype=np.float32)[: y2 - y1, : x2 - x1]
        out[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]] = np.maximum(
            out[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]], crop)
    return out


def seg_mask_over_picture(seg: SEG, size: tuple[int, int]) -> np.ndarray:
    """One region's mask placed over the whole picture."""
    return segs_to_mask((size, [seg]))
