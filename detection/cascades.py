"""Face detectors from cascades that ship inside their wheels: OpenCV's Haar cascades
(opencv-python-headless below 5) and scikit-image's LBP frontal-face cascade.

Cascades give no probability; a face's confidence is n / (n + 5) for the n overlapping
windows that agreed on it, so the usual threshold of 0.5 is OpenCV's usual minNeighbors=5.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .types import Detection, DetectorError

HAAR_FILES = {
    "face": "haarcascade_frontalface_default.xml",
    "face_alt2": "haarcascade_frontalface_alt2.xml",
    "face_profile": "haarcascade_profileface.xml",
}
_AGREEMENT = 5.0


def _confidence(neighbours: float) -> float:
    return float(neighbours) / (float(neighbours) + _AGREEMENT)


def _min_neighbours(threshold: float) -> int:
    threshold = min(max(threshold, 0.0), 0.99)
    return max(1, int(np.ceil(_AGREEMENT * threshold / (1.0 - threshold))))


def _gray(picture: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(picture[..., :3]), cv2.COLOR_RGB2GRAY))


class HaarFaceDetector:
    """OpenCV's Viola-Jones Haar cascade for faces (frontal by default)."""

    def __init__(self, kind: str = "face") -> None:
        import cv2

        path = Path(cv2.data.haarcascades) / HAAR_FILES[kind]
        if not path.is_file():
            raise DetectorError(f"OpenCV's cascade {path.name} is missing (opencv-python-headless 5 dropped "
                                f"the cascades; install a 4.x version)")
        self._cascade = cv2.CascadeClassifier(str(path))
        self._lock = threading.Lock()
        self.labels = ["face"]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        gray = _gray(picture)
        side = min(gray.shape)
        with self._lock:
            boxes, neighbours = self._cascade.detectMultiScale2(
                gray, scaleFactor=1.1, minNeighbors=_min_neighbours(threshold), minSize=(max(12, side // 40),) * 2)
        return [Detection((float(x), float(y), float(x + w), float(y + h)), _confidence(n), "face")
                for (x, y, w, h), n in zip(np.reshape(boxes, (-1, 4)), np.ravel(neighbours))
                if _confidence(n) >= threshold]


class LbpFaceDetector:
    """scikit-image's LBP frontal-face cascade (no scores: each face found counts as 1.0;
    the threshold sets how many windows must agree)."""

    def __init__(self) -> None:
        from skimage import data
        from skimage.feature import Cascade

        self._cascade = Cascade(data.lbp_frontal_face_cascade_filename())
        self._lock = threading.Lock()
        self.labels = ["face"]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        gray = _gray(picture).astype(np.float32) / 255.0
        side = min(gray.shape)
        with self._lock:
            found = self._cascade.detect_multi_scale(
                img=gray, scale_factor=1.2, step_ratio=1, min_size=(max(16, side // 32),) * 2,
                max_size=(side, side), min_neighbor_number=_min_neighbours(threshold))
        return [Detection((float(f["c"]), float(f["r"]), float(f["c"] + f["width"]), float(f["r"] + f["height"])),
                          1.0, "face") for f in found]
