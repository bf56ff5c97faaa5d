"""Reads an Ultralytics `.pt` checkpoint without the ultralytics package and without ever
running code the pickle names.

A pickle can call any importable function while it loads. Ours is handed to `torch.load`
as its pickle module, and its `find_class` answers only for the globals a YOLO
checkpoint needs: torch's tensor and storage rebuilders, the plain torch.nn layers YOLOv8
uses, a few data-only builtins / numpy reconstructors, and the Ultralytics classes,
which are replaced BY CLASS NAME with our own inference modules. Every other global is
refused with a DetectorError at the moment the pickle asks for it, before anything
it would call is called.
"""
from __future__ import annotations

import _codecs
import collections
import copyreg
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from ..types import DetectorError
from .network import ULTRALYTICS_CLASSES, DetectionModel, UltralyticsRecord

_TORCH_REBUILDERS = (
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
)

# torch.nn classes a YOLOv8 model is made of, by class name (their module path moved
# between torch versions; the name did not).
_TORCH_LAYERS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        nn.Conv2d,
        nn.ConvTranspose2d,
        nn.BatchNorm2d,
        nn.SiLU,
        nn.ReLU,
        nn.LeakyReLU,
        nn.Hardswish,
        nn.Identity,
        nn.Sequential,
        nn.ModuleList,
        nn.MaxPool2d,
        nn.Upsample,
    )
}


def _bytes_from_text(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """How protocol-2 pickles spell bytes objects; only the two text codecs they use pass."""
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "utf8"):
        raise DetectorError(f"refused: the pickle asks to encode with codec {encoding!r}")
    return _codecs.encode(text, encoding, errors)


def _path_text(*parts: object) -> str:
    """Paths in training arguments come back as plain text."""
    return "/".join(str(p) for p in parts)


_NUMPY_CORE = getattr(np, "_core", None) or np.core
_EXACT: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "slice"): slice,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): _bytes_from_text,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("types", "SimpleNamespace"): UltralyticsRecord,
    ("argparse", "Namespace"): UltralyticsRecord,
    ("pathlib", "Path"): _path_text,
    ("pathlib", "PosixPath"): _path_text,
    ("pathlib", "WindowsPath"): _path_text,
    ("pathlib", "PurePosixPath"): _path_text,
    ("pathlib", "PureWindowsPath"): _path_text,
}
for _name in _TORCH_REBUILDERS:
    _EXACT[("torch._utils", _name)] = getattr(torch._utils, _name)
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _EXACT[(_module, "_reconstruct")] = _NUMPY_CORE.multiarray._reconstruct
    _EXACT[(_module, "scalar")] = _NUMPY_CORE.multiarray.scalar

# Python 2 spellings that protocol-2 pickles keep.
_RENAMED_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def allowed_global(module: str, name: str) -> Any:
    """The object standing for `module.name` in a YOLO checkpoint; DetectorError naming the
    global for anything outside the allow-list."""
    module = _RENAMED_MODULES.get(module, module)
    found = _EXACT.get((module, name))
    if found is not None:
        return found
    if module == "torch":
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype):
            return value
        if name.endswith("Storage") and isinstance(value, type):
            return value
    if module == "torch.nn" or module.startswith("torch.nn.modules"):
        if name in _TORCH_LAYERS:
            return _TORCH_LAYERS[name]
    if module == "ultralytics" or module.startswith("ultralytics."):
        if name in ULTRALYTICS_CLASSES:
            return ULTRALYTICS_CLASSES[name]
        if name.endswith("Model"):
            raise DetectorError(
                f"unsupported YOLO model type {name} ({module}.{name}): only YOLOv8 detection "
                "and segmentation models can be loaded"
            )
        raise DetectorError(
            f"unknown YOLO layer {name} ({module}.{name}): only YOLOv8 detection and "
            "segmentation layers are supported"
        )
    raise DetectorError(f"refused global {module}.{name}: a YOLO model file has no need of it")


class Unpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves globals only through `allowed_global`."""

    def find_class(self, module: str, name: str) -> Any:
        return allowed_global(module, name)


def _check_archive(path: Path) -> None:
    """Refuses what torch.load would not read as a plain pickle archive: not a zip (a
    truncated file loses its central directory), TorchScript, no pickle inside."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if archive.testzip() is not None:
                raise DetectorError(f"{path.name} is damaged (a record fails its checksum)")
    except zipfile.BadZipFile as exc:
        raise DetectorError(
            f"{path.name} is not a torch checkpoint zip (truncated, or not a .pt file): {exc}"
        ) from exc
    if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names):
        raise DetectorError(f"{path.name} is a TorchScript archive, not an Ultralytics checkpoint")
    if not any(n.endswith("data.pkl") for n in names):
        raise DetectorError(f"{path.name} holds no pickled data")


def read_checkpoint(path: Union[str, os.PathLike]) -> Any:
    """The unpickled contents of a torch `.pt` file, through the allow-list."""
    path = Path(path)
    if not path.is_file():
        raise DetectorError(f"no model file at {path}")
    _check_archive(path)
    try:
        return torch.load(
            path, map_location="cpu", weights_only=False, pickle_module=sys.modules[__name__]
        )
    except DetectorError:
        raise
    except Exception as exc:  # damaged records, bad opcodes, short data...
        raise DetectorError(f"cannot read {path.name}: {type(exc).__name__}: {exc}") from exc


def load_checkpoint_model(path: Union[str, os.PathLike]) -> DetectionModel:
    """The YOLO model of an Ultralytics checkpoint: its `ema` when that holds one, else
    `model` (the half-precision copy a finished training keeps)."""
    checkpoint = read_checkpoint(path)
    if isinstance(checkpoint, DetectionModel):
        return checkpoint
    if not isinstance(checkpoint, dict):
        raise DetectorError(f"{Path(path).name} holds a {type(checkpoint).__name__}, not an Ultralytics checkpoint")
    for key in ("ema", "model"):
        candidate = checkpoint.get(key)
        if isinstance(candidate, DetectionModel):
            return candidate
    raise DetectorError(f"{Path(path).name} holds no YOLO model (no 'model' or 'ema' entry)")

