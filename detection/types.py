"""What every detector returns, and the one method it has."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np


class DetectorError(ValueError):
    """A detector model that cannot be used (unknown layout, truncated file, refused pickle)."""


@dataclass(frozen=True)
class Detection:
    """One found object: its box (x1, y1, x2, y2 in pixels, x2/y2 exclusive), how sure the
    detector is (0..1), its label, for segmenting detectors its mask over the whole
    picture (H x W float32, 0..1), and for landmark detectors the landmarks (N x 2 pixel
    coordinates: the face mesh's 468 points)."""

    box: tuple[float, float, float, float]
    confidence: float
    label: str
    mask: Optional[np.ndarray] = None
    points: Optional[np.ndarray] = None


class Detector(Protocol):
    """A detector: `labels` it can report, and `detect` on an RGB uint8 H x W x 3 array."""

    labels: Sequence[str]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        ...
