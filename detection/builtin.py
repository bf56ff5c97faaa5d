"""The detectors that work out of the box, by the names the detector node lists."""
from __future__ import annotations

import threading
from typing import Callable

from .types import Detector

BUILTIN_DETECTORS: dict[str, tuple[str, Callable[[], Detector]]] = {}


def _register(name: str, kind: str, factory: Callable[[], Detector]) -> None:
    BUILTIN_DETECTORS[name] = (kind, factory)


def _mediapipe(name: str):
    def make() -> Detector:
        from . import mediapipe_models as mp

        return {"face_full": lambda: mp.MediapipeFaceDetector(True), "face_short": lambda: mp.MediapipeFaceDetector(False),
                "face_mask": mp.MediapipeFaceMaskDetector, "hand": mp.MediapipeHandDetector,
                "person": mp.MediapipePersonDetector}[name]()

    return make


def _haar() -> Detector:
    from .cascades import HaarFaceDetector

    return HaarFaceDetector()


def _lbp() -> Detector:
    from .cascades import LbpFaceDetector

    return LbpFaceDetector()


_register("face (mediapipe, full range)", "bbox", _mediapipe("face_full"))
_register("face (mediapipe, short range)", "bbox", _mediapipe("face_short"))
_register("face (mediapipe face mesh, with mask)", "segm", _mediapipe("face_mask"))
_register("hand (mediapipe)", "bbox", _mediapipe("hand"))
_register("person (mediapipe pose, with mask)", "segm", _mediapipe("person"))
_register("face (OpenCV Haar cascade)", "bbox", _haar)
_register("face (scikit-image LBP cascade)", "bbox", _lbp)

_made: dict[str, Detector] = {}
_lock = threading.Lock()


def builtin_detector(name: str) -> Detector:
    """The detector of that name, made once (its model files are read on first use)."""
    if name not in BUILTIN_DETECTORS:
        raise KeyError(f"unknown detector {name!r}; one of: {', '.join(BUILTIN_DETECTORS)}")
    with _lock:
        if name not in _made:
            _made[name] = BUILTIN_DETECTORS[name][1]()
        return _made[name]
