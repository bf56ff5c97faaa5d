"""Writes a loaded YOLO network as an ONNX file in Ultralytics' export format (input
`images`, outputs `output0` and for segment models `output1`, and the `names`, `stride`,
`imgsz`, `task` metadata), so `.pt` models can be moved to the onnxruntime backend."""
from __future__ import annotations

import os
import warnings
from datetime import datetime
from typing import Union

import torch

from ..types import DetectorError
from .detector import YoloDetector
from .network import DetectionModel, Segment, labels_of


def export_onnx(
    source: Union[YoloDetector, DetectionModel],
    path: Union[str, os.PathLike],
    size: Union[int, tuple[int, int]] = 640,
    opset: int = 17,
) -> None:
    """Exports the torch network of a detector (or a prepared network) at a fixed input
    size. Needs the `onnx` package, which only this helper uses."""
    import onnx

    network = source.network if isinstance(source, YoloDetector) else source
    if not isinstance(network, DetectionModel):
        raise DetectorError("only a detector loaded from a .pt file has a torch network to export")
    height, width = (size, size) if isinstance(size, int) else size
    head = network.model[-1]
    segment = isinstance(head, Segment)
    device = next(network.parameters()).device
    dummy = torch.zeros(1, 3, height, width, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # strides are constants by design
        torch.onnx.export(
            network,
            (dummy,),
            os.fspath(path),
            dynamo=False,
            opset_version=opset,
            input_names=["images"],
            output_names=["output0", "output1"] if segment else ["output0"],
        )
    model = onnx.load(os.fspath(path))
    names = dict(enumerate(labels_of(network, int(head.nc))))
    metadata = {
        "description": "YOLOv8 model exported by sd-studio",
        "date": datetime.now().isoformat(timespec="seconds"),
        "stride": str(max(32, int(max(float(s) for s in head.stride)))),
        "task": "segment" if segment else "detect",
        "batch": "1",
        "imgsz": str([height, width]),
        "names": str(names),
    }
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, os.fspath(path))

