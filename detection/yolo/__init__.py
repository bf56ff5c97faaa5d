"""YOLOv8 detect / segment models without the ultralytics package.

`.pt` checkpoints are read through an allow-list unpickler into our own torch network;
ONNX files in Ultralytics' export format run with onnxruntime. Both give a
`YoloDetector` (the Detector protocol of `detection.types`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

from ..types import DetectorError
from .detector import YoloDetector, load_torch
from .export import export_onnx

TORCH_SUFFIXES = (".pt", ".pth")
ONNX_SUFFIXES = (".onnx",)


def load_yolo(
    path: Union[str, os.PathLike],
    *,
    size: Optional[int] = None,
    device: Union[str, torch.device] = "cpu",
) -> YoloDetector:
    """A detector from a YOLO model file, chosen by suffix: `.pt`/`.pth` (Ultralytics
    checkpoint, our torch network; `size` and `device` apply) or `.onnx` (onnxruntime,
    at the file's own input size). DetectorError for anything unusable."""
    suffix = Path(path).suffix.lower()
    if suffix in TORCH_SUFFIXES:
        return load_torch(path, size=size, device=device)
    if suffix in ONNX_SUFFIXES:
        return YoloDetector.from_onnx(path)
    raise DetectorError(f"{Path(path).name}: not a YOLO model file (expected .pt, .pth or .onnx)")


__all__ = ["DetectorError", "YoloDetector", "export_onnx", "load_yolo"]
