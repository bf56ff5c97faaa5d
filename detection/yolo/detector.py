"""YoloDetector: one Detector over two backends, our torch YOLOv8 network (from an
Ultralytics `.pt`) or an Ultralytics ONNX export run by onnxruntime. Both produce the
same raw output, so the letterbox and post-processing in `boxes` serve both."""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from diffusion.memory_manager import MANAGER

from ..types import Detection, DetectorError
from . import boxes as box_ops
from .network import DetectionModel, Segment, labels_of, prepare
from .unpickle import load_checkpoint_model

DEFAULT_SIZE = 640
DEFAULT_IOU = 0.7  # Ultralytics' predict default, which ADetailer keeps
DEFAULT_MAX_DET = 300

# A backend takes the 1 x 3 x H x W input and returns one picture's prediction
# ([4 + nc (+ nm), N]) and, for segment models, its prototypes ([nm, H/4, W/4]).
Runner = Callable[[np.ndarray], tuple[np.ndarray, Optional[np.ndarray]]]


class YoloDetector:
    """Detector protocol over a YOLOv8 detect or segment model.

    `network` is the torch model for `.pt` files (None for ONNX). Pictures are letterboxed
    to `size` (height, width), or with `rect` to the smallest stride-multiple rectangle
    fitting max(size), as Ultralytics does for `.pt` models."""

    def __init__(
        self,
        runner: Runner,
        labels: Sequence[str],
        *,
        size: tuple[int, int],
        stride: int = 32,
        segment: bool = False,
        rect: bool = False,
        network: Optional[DetectionModel] = None,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
    ) -> None:
        self.labels = list(labels)
        self.size = size
        self.stride = stride
        self.segment = segment
        self.rect = rect
        self.network = network
        self.iou = iou
        self.max_det = max_det
        self._run = runner

    @classmethod
    def from_network(
        cls,
        network: DetectionModel,
        *,
        size: Optional[int] = None,
        device: Union[str, torch.device] = "cpu",
        rect: bool = False,
    ) -> "YoloDetector":
        """A detector over a prepared torch network; `size` defaults to the size it was
        trained at (Ultralytics predicts at that size) or 640."""
        head = network.model[-1]
        stride = max(32, int(max(float(s) for s in head.stride)))
        side = size or _trained_size(network) or DEFAULT_SIZE
        side = max(stride, int(round(side / stride)) * stride)
        MANAGER.place(network, torch.device(device))
        return cls(
            _torch_runner(network, torch.device(device)),
            labels_of(network, int(head.nc)),
            size=(side, side),
            stride=stride,
            segment=isinstance(head, Segment),
            rect=rect,
            network=network,
        )

    @classmethod
    def from_onnx(cls, path: Union[str, os.PathLike]) -> "YoloDetector":
        """A detector over an Ultralytics-format ONNX file run by onnxruntime."""
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise DetectorError(f"no model file at {path}")
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types for bad protobufs, ops...
            raise DetectorError(f"cannot open {path.name} with onnxruntime: {exc}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) not in (1, 2):
            raise DetectorError(f"{path.name} does not have the inputs and outputs of a YOLO export")
        metadata = session.get_modelmeta().custom_metadata_map
        names = _parse_names(metadata.get("names"))
        nm = _static(outputs[1].shape, 1) if len(outputs) == 2 else 0
        channels, anchors = _static(outputs[0].shape, 1), _static(outputs[0].shape, 2)
        if len(outputs[0].shape) != 3 or (len(outputs) == 2 and nm is None):
            raise DetectorError(f"{path.name} does not have the outputs of a YOLO detect/segment export")
        if anchors == 6 + nm:  # [1, max_det, x1 y1 x2 y2 score class (+ nm)]: end-to-end output
            raise DetectorError(f"{path.name} looks like an export with NMS built in; export it without NMS")
        if channels is not None:
            nc = channels - 4 - nm
        elif names:
            nc = len(names)
        else:
            raise DetectorError(f"{path.name} tells neither its class count nor its class names")
        if nc < 1:
            raise DetectorError(f"{path.name} has an output of {channels} channels, too few for a YOLO model")
        labels = names if names and len(names) == nc else [str(i) for i in range(nc)]
        stride = _int_or(metadata.get("stride"), 32)
        height, width = _static(inputs[0].shape, 2), _static(inputs[0].shape, 3)
        fixed = height is not None and width is not None
        size = (height, width) if fixed else (DEFAULT_SIZE, DEFAULT_SIZE)
        return cls(
            _onnx_runner(session), labels, size=size, stride=stride, segment=len(outputs) == 2,
            rect=False,
        )

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        """Objects scoring over `threshold` in an RGB uint8 H x W x 3 picture."""
        if not isinstance(picture, np.ndarray) or picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
            raise ValueError("YOLO detect wants an RGB uint8 H x W x 3 array")
        if self.rect:
            input_hw = box_ops.input_shape(picture.shape[:2], max(self.size), self.stride, True)
        else:
            input_hw = self.size
        batch, fit = box_ops.letterbox(picture, input_hw)
        pred, protos = self._run(batch)
        nc = len(self.labels)
        found = box_ops.decode(pred, nc, float(threshold), self.iou, self.max_det)
        picture_boxes = fit.to_picture(found.boxes)
        # a box lying wholly in the letterbox padding clips to nothing: not a detection
        seen = (picture_boxes[:, 2] > picture_boxes[:, 0]) & (picture_boxes[:, 3] > picture_boxes[:, 1])
        picture_boxes, scores, classes = picture_boxes[seen], found.scores[seen], found.classes[seen]
        masks: list[Optional[np.ndarray]] = [None] * len(picture_boxes)
        if self.segment and protos is not None and found.coeffs is not None and len(picture_boxes):
            masks = list(box_ops.masks(protos, found.coeffs[seen], picture_boxes, fit))
        return [
            Detection(
                box=tuple(float(v) for v in box),
                confidence=float(score),
                label=self.labels[int(cls)],
                mask=mask,
            )
            for box, score, cls, mask in zip(picture_boxes, scores, classes, masks)
        ]


def load_torch(path: Union[str, os.PathLike], *, size: Optional[int] = None, device: Union[str, torch.device] = "cpu") -> YoloDetector:
    """A detector from an Ultralytics `.pt` checkpoint, read through the allow-list."""
    return YoloDetector.from_network(prepare(load_checkpoint_model(path)), size=size, device=device)


def _torch_runner(network: DetectionModel, device: torch.device) -> Runner:
    def run(batch: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        with torch.inference_mode(), MANAGER.using([network], "detector"):
            out = network(torch.from_numpy(batch).to(device))
        pred, protos = out if isinstance(out, tuple) else (out, None)
        return pred[0].float().cpu().numpy(), None if protos is None else protos[0].float().cpu().numpy()

    return run


def _onnx_runner(session: Any) -> Runner:
    source = session.get_inputs()[0]
    dtype = np.float16 if "float16" in source.type else np.float32
    batch_size = _static(source.shape, 0) or 1

    def run(batch: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        if batch_size > 1:  # an export with a fixed batch: fill it with copies
            batch = np.repeat(batch, batch_size, 0)
        outs = session.run(None, {source.name: batch.astype(dtype)})
        protos = outs[1][0].astype(np.float32) if len(outs) > 1 else None
        return outs[0][0].astype(np.float32), protos

    return run


def _static(shape: Sequence[Any], index: int) -> Optional[int]:
    """A dimension of an onnxruntime shape when it is fixed (dynamic ones are names)."""
    if index >= len(shape):
        return None
    value = shape[index]
    return value if isinstance(value, int) and value > 0 else None


def _int_or(text: Optional[str], default: int) -> int:
    try:
        return int(ast.literal_eval(text)) if text else default
    except (ValueError, SyntaxError, TypeError):
        return default


def _parse_names(text: Optional[str]) -> list[str]:
    """Ultralytics writes `names` as a Python literal, "{0: 'face'}" (or a list)."""
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    if isinstance(value, dict):
        try:
            keys = sorted(int(k) for k in value)
        except (TypeError, ValueError):
            return []
        if keys != list(range(len(keys))):
            return []
        return [str(value.get(i, value.get(str(i)))) for i in keys]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return []


def _trained_size(network: DetectionModel) -> Optional[int]:
    """The `imgsz` the checkpoint was trained at, from its saved arguments."""
    args = getattr(network, "args", None)
    value = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return value if isinstance(value, int) and 32 <= value <= 4096 else None
