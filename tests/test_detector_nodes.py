"""The detector nodes through the executor: YOLO `.pt` and `.onnx` files in
models/ultralytics/{bbox,segm} as the Ultralytics Detector Provider lists and loads them,
the SEGS nodes after it, and a broken model file as a clear node error."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detection.yolo import export_onnx, load_yolo
from executor.run import Executor
from nodes.registry import REGISTRY, object_info
from tests.test_yolo_detector import build_model, calibrate, fake_ultralytics, picture, save_checkpoint


@pytest.fixture(scope="module")
def folders(make_folders):
    folders = make_folders(dirs=["ultralytics/bbox", "ultralytics/segm"], input=True, name="detector_nodes")
    bbox, segm = folders.models / "ultralytics" / "bbox", folders.models / "ultralytics" / "segm"
    img = picture()
    Image.fromarray(img).save(folders.input / "picture.png")
    with fake_ultralytics():
        for folder, name, nc, names, seg in ((bbox, "faces.pt", 2, {0: "face", 1: "hand"}, False),
                                             (segm, "people-seg.pt", 1, {0: "person"}, True)):
            model = build_model(nc, names, seg)
            calibrate(model, img)
            save_checkpoint(folder / name, model)
    export_onnx(load_yolo(bbox / "faces.pt"), bbox / "faces.onnx")
    data = (bbox / "faces.pt").read_bytes()
    (bbox / "broken.pt").write_bytes(data[: len(data) // 2])
    return folders


def detect_prompt(model_name: str, node: str = "BboxDetectorSEGS", output: int = 0) -> dict:
    detector_input = "bbox_detector" if node == "BboxDetectorSEGS" else "segm_detector"
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "picture.png"}},
        "2": {"class_type": "UltralyticsDetectorProvider", "inputs": {"model_name": model_name}},
        "3": {"class_type": node, "inputs": {detector_input: ["2", output], "image": ["1", 0], "threshold": 0.5,
                                              "dilation": 0, "crop_factor": 2.0, "drop_size": 1, "labels": "all"}},
        "4": {"class_type": "SEGSPreview", "inputs": {"segs": ["3", 0], "alpha_mode": True, "min_alpha": 0.2,
                                                       "fallback_image_opt": ["1", 0]}},
    }


def test_provider_lists_the_models_of_both_folders(folders):
    info = object_info(REGISTRY, folders, names=["UltralyticsDetectorProvider"])
    choices = info["UltralyticsDetectorProvider"]["input"]["required"]["model_name"][0]
    assert choices == ["bbox/broken.pt", "bbox/faces.onnx", "bbox/faces.pt", "segm/people-seg.pt"]


@pytest.mark.parametrize("name", ["bbox/faces.pt", "bbox/faces.onnx"])
def test_yolo_boxes_become_regions_and_a_preview(folders, name):
    expected = load_yolo(folders.model_path("ultralytics_bbox", name.split("/", 1)[1])).detect(picture(), 0.5)
    assert expected, "the calibrated test model finds objects in its picture"
    result = Executor(folders).run(detect_prompt(name))
    assert result.status == "success", result.error
    assert result.outputs["3"]["text"] == [f"{len(expected)} region(s) found by {name}"]
    record = result.outputs["4"]["images"][0]
    preview = np.asarray(Image.open(folders.temp / record["subfolder"] / record["filename"]).convert("RGB"))
    assert preview.shape == picture().shape and not np.array_equal(preview, picture())


def test_segm_models_give_masks_and_box_models_refuse_to(folders):
    executor = Executor(folders)
    result = executor.run(detect_prompt("segm/people-seg.pt", "SegmDetectorSEGS", output=1))
    assert result.status == "success", result.error
    refused = executor.run(detect_prompt("bbox/faces.pt", "SegmDetectorSEGS", output=1))
    assert refused.status == "error" and "finds boxes only" in refused.error["exception_message"]


def test_a_truncated_model_file_is_a_node_error_and_the_next_prompt_runs(folders):
    executor = Executor(folders)
    failed = executor.run(detect_prompt("bbox/broken.pt"))
    assert failed.status == "error" and failed.error["node_id"] == "2"
    assert "broken.pt" in failed.error["exception_message"]
    assert executor.run(detect_prompt("bbox/faces.pt")).status == "success"
