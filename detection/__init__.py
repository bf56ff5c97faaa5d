"""Finding things in images (faces, hands, people, masked regions) for the detail fixer.

Plain numpy / OpenCV / onnxruntime / torch code that knows nothing about nodes: each
detector takes an RGB uint8 picture and returns `Detection`s in pixel coordinates.
"""
from .types import Detection, Detector, DetectorError  # noqa: F401
