"""The BBOX_DETECTOR / SEGM_DETECTOR values that flow between nodes.

They answer the Impact Pack's calls (`detect(image, threshold, dilation, crop_factor,
drop_size, detailer_hook)` -> SEGS, `detect_combined(image, threshold, dilation)` -> MASK),
so the Impact Pack's own nodes can use the detectors made here and the other way round.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .regions import Segs, dilate_mask, regions_from_detections, segs_to_mask
from .types import Detection, Detector, DetectorError


def picture_of(image: torch.Tensor) -> np.ndarray:
    """The first picture of an IMAGE batch ([B,H,W,C] or [H,W,C], 0..1) as RGB uint8."""
    single = image[0] if image.dim() == 4 else image
    return (single[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


class RegionDetector:
    """A detector as a node value: boxes only (`use_masks=False`) or the model's masks."""

    def __init__(self, detector: Detector, name: str, use_masks: bool) -> None:
        self.detector = detector
        self.name = name
        self.use_masks = use_masks

    @property
    def labels(self) -> list[str]:
        return list(self.detector.labels)

    def find(self, image: torch.Tensor, threshold: float) -> list[Detection]:
        found = self.detector.detect(picture_of(image), threshold)
        if not self.use_masks:
            return [Detection(d.box, d.confidence, d.label) for d in found]
        return found

    def detect(self, image: torch.Tensor, threshold: float, dilation: int, crop_factor: float, drop_size: int = 1,
               detailer_hook: Any = None) -> Segs:
        single = image[0] if image.dim() == 4 else image
        size = (int(single.shape[0]), int(single.shape[1]))
        return regions_from_detections(self.find(image, threshold), size, dilation, crop_factor, drop_size,
                                       picture=single[..., :3].float().cpu())

    def detect_combined(self, image: torch.Tensor, threshold: float, dilation: int) -> torch.Tensor:
        segs = self.detect(image, threshold, 0, 1.0)
        return torch.from_numpy(dilate_mask(segs_to_mask(segs), dilation))

    def setAux(self, _: Any) -> None:  # noqa: N802  (Impact Pack's name)
        """The Impact Pack passes auxiliary models here; these detectors need none."""


def detector_outputs(detector: Detector, name: str, has_masks: bool) -> tuple[Any, Any]:
    """(BBOX_DETECTOR, SEGM_DETECTOR) of one detector: boxes always, masks when it has them."""
    segm = RegionDetector(detector, name, True) if has_masks else NoMaskDetector(name)
    return RegionDetector(detector, name, False), segm


class NoMaskDetector:
    """The SEGM_DETECTOR of a box-only model: using it says so."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels: list[str] = []

    def _refuse(self, *_: Any, **__: Any):
        raise DetectorError(f"{self.name} finds boxes only, it has no masks: use its BBOX_DETECTOR output, "
                            f"or pick a segm/ model")

    detect = detect_combined = _refuse
