"""The YOLOv8 heads and the whole-model wrapper, and the check that a loaded model is one.

Like `layers`, these classes are filled in by the unpickler from an Ultralytics
checkpoint. Their forward produces what an Ultralytics ONNX export produces, so the torch
and ONNX backends share one post-processing: `[B, 4 + nc, N]` (cx, cy, w, h in input
pixels, then sigmoid class scores) and for segment models `[B, 4 + nc + nm, N]` with the
mask coefficients, plus prototypes `[B, nm, H/4, W/4]`.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import nn

from ..types import DetectorError
from .layers import C2f, DFL, SPPF, Bottleneck, Concat, Conv, Proto

# A probe at this size (a multiple of the largest stride, 32) proves at load time that the
# pickled layer graph runs, so a broken file fails when it is opened, not on a picture.
PROBE_SIZE = 64


def make_anchors(feats: list[torch.Tensor], strides: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres of every feature map in input-grid units ([2, N]) and each cell's
    stride ([1, N]), from the maps' own shapes so a traced export keeps them as constants."""
    points, steps = [], []
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[2], feat.shape[3]
        xs = torch.arange(w, dtype=feat.dtype, device=feat.device) + 0.5
        ys = torch.arange(h, dtype=feat.dtype, device=feat.device) + 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x, grid_y)).view(2, -1))
        steps.append(torch.full((1, h * w), stride, dtype=feat.dtype, device=feat.device))
    return torch.cat(points, 1), torch.cat(steps, 1)


class Detect(nn.Module):
    """Box head: per level a box branch (`cv2`, 4 x reg_max bins) and a class branch
    (`cv3`); boxes decoded through `dfl` around the anchors, scaled by the level stride."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        b = xs[0].shape[0]
        feats = [torch.cat((self.cv2[i](xs[i]), self.cv3[i](xs[i])), 1) for i in range(self.nl)]
        anchors, strides = make_anchors(feats, [float(s) for s in self.stride])
        flat = torch.cat([f.view(b, self.no, -1) for f in feats], 2)
        box, cls = flat.split((self.reg_max * 4, self.nc), 1)
        left_top, right_bottom = self.dfl(box).chunk(2, 1)
        x1y1 = anchors - left_top
        x2y2 = anchors + right_bottom
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((xywh, cls.sigmoid()), 1)


class Segment(Detect):
    """Detect plus `nm` mask coefficients per box (`cv4`) and the prototypes (`proto`)."""

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        protos = self.proto(xs[0])
        b = protos.shape[0]
        coeffs = torch.cat([self.cv4[i](xs[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        return torch.cat((Detect.forward(self, xs), coeffs), 1), protos


class DetectionModel(nn.Module):
    """The layer list (`model`) run in order; each layer reads the previous output or the
    saved outputs its `f` names, and outputs whose index is in `save` are kept."""

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        outputs: list = []
        for layer in self.model:
            source = layer.f
            if source != -1:
                if isinstance(source, int):
                    x = outputs[source]
                else:
                    x = [x if j == -1 else outputs[j] for j in source]
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        return x


class SegmentationModel(DetectionModel):
    """A DetectionModel whose last layer is a Segment head."""


class UltralyticsRecord:
    """Stands in for Ultralytics' plain-data classes (IterableSimpleNamespace and the like):
    it only stores the attributes the pickle gives it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.__dict__.update(kwargs)


# Ultralytics class name -> our class, whatever module path the Ultralytics version used.
ULTRALYTICS_CLASSES: dict[str, type] = {
    "Conv": Conv,
    "DWConv": Conv,  # a Conv whose Conv2d has groups; same attributes, same forward
    "Bottleneck": Bottleneck,
    "C2f": C2f,
    "SPPF": SPPF,
    "Concat": Concat,
    "DFL": DFL,
    "Proto": Proto,
    "Detect": Detect,
    "Segment": Segment,
    "DetectionModel": DetectionModel,
    "SegmentationModel": SegmentationModel,
    "IterableSimpleNamespace": UltralyticsRecord,
}

_KNOWN_LAYERS = (Conv, Bottleneck, C2f, SPPF, Concat, DFL, Proto, Detect, nn.Upsample)


def labels_of(model: DetectionModel, count: int) -> list[str]:
    """Class names by index from the model's `names` (dict or list); "0", "1"... where
    it has none."""
    names = getattr(model, "names", None)
    if isinstance(names, dict):
        return [str(names.get(i, names.get(str(i), i))) for i in range(count)]
    if isinstance(names, (list, tuple)) and len(names) == count:
        return [str(n) for n in names]
    return [str(i) for i in range(count)]


def prepare(model: object) -> DetectionModel:
    """Checks that an unpickled object is a runnable YOLOv8 detect/segment model and turns
    it into a float32 eval-mode network without gradients; DetectorError otherwise."""
    if not isinstance(model, DetectionModel):
        raise DetectorError(f"the checkpoint's model is a {type(model).__name__}, not a YOLO detection model")
    layers = model.__dict__.get("_modules", {}).get("model")
    if not isinstance(layers, nn.Sequential) or len(layers) == 0:
        raise DetectorError("the YOLO model has no layer list")
    for index, layer in enumerate(layers):
        if not isinstance(layer, _KNOWN_LAYERS):
            raise DetectorError(f"unknown YOLO layer {type(layer).__name__} at index {index}")
        if not hasattr(layer, "f") or not hasattr(layer, "i"):
            raise DetectorError(f"YOLO layer {index} ({type(layer).__name__}) has no from-index")
        if isinstance(layer, nn.Upsample) and not hasattr(layer, "recompute_scale_factor"):
            layer.recompute_scale_factor = None  # saved by an older torch
    head = layers[-1]
    if not isinstance(head, Detect):
        raise DetectorError(f"the YOLO model ends in {type(head).__name__}, not a Detect or Segment head")
    if not isinstance(getattr(model, "save", None), (list, tuple, set)):
        raise DetectorError("the YOLO model has no list of saved layer outputs")
    model.float().eval().requires_grad_(False)
    _probe(model, head)
    return model


def _probe(model: DetectionModel, head: Detect) -> None:
    """Runs the network once on a small blank input and checks the output's shape."""
    extra = head.nm if isinstance(head, Segment) else 0
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE))
    except Exception as exc:  # any layout mistake in the pickled layers lands here
        raise DetectorError(f"the YOLO model does not run: {type(exc).__name__}: {exc}") from exc
    pred = out[0] if isinstance(out, tuple) else out
    if pred.dim() != 3 or pred.shape[1] != 4 + head.nc + extra:
        raise DetectorError(f"the YOLO model gives an output of shape {tuple(pred.shape)}")
