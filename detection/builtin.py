"""The detectors that work out of the box, by the names the detector node lists."""
from __future__ import annotations

import importlib
import threading
from typing import Callable

from .types import Detector

def _lazy(module: str, cls: str, *args: object) -> Callable[[], Detector]:
    """A factory that imports the detector's module only when the detector is first made
    (mediapipe and the cascades load their models then)."""
    def make() -> Detector:
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(*args)

    return make


# name -> ("bbox" or "segm": whether it gives masks, factory)
BUILTIN_DETECTORS: dict[str, tuple[str, Callable[[], Detector]]] = {
    "face (mediapipe, full range)": ("bbox", _lazy("mediapipe_models", "MediapipeFaceDetector", True)),
    "face (mediapipe, short range)": ("bbox", _lazy("mediapipe_models", "MediapipeFaceDetector", False)),
    "face (mediapipe face mesh, with mask)": ("segm", _lazy("mediapipe_models", "MediapipeFaceMaskDetector")),
    "hand (mediapipe)": ("bbox", _lazy("mediapipe_models", "MediapipeHandDetector")),
    "person (mediapipe pose, with mask)": ("segm", _lazy("mediapipe_models", "MediapipePersonDetector")),
    "face (OpenCV Haar cascade)": ("bbox", _lazy("cascades", "HaarFaceDetector")),
    "face (scikit-image LBP cascade)": ("bbox", _lazy("cascades", "LbpFaceDetector")),
}

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
