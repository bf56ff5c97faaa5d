"""Pictures and stand-in ONNX models for the face-swap tests: two real photos read from
registry packages at test time (scikit-image's astronaut, matplotlib's Grace Hopper), and
small ONNX models built here with exactly the signatures of insightface's files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))


def side_by_side(left: np.ndarray, right: np.ndarray, height: int = 300) -> np.ndarray:
    def scaled(picture: np.ndarray) -> np.ndarray:
        width = round(picture.shape[1] * height / picture.shape[0])
        return np.asarray(Image.fromarray(picture).resize((width, height), Image.LANCZOS))

    return np.concatenate([scaled(left), scaled(right)], axis=1)


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_swapper(path: Path, side: int = 128, emap_side: int = 512) -> Path:
    """inswapper_128.onnx's signature: target [1,3,128,128] and source [1,512] in, [1,3,128,128]
    out, the emap as last initializer. It paints the face in one colour per identity."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    colour_of_identity = numpy_helper.from_array(rng.normal(0, 1, (emap_side, 3)).astype(np.float32), "colour")
    emap = numpy_helper.from_array(rng.normal(0, 1, (emap_side, emap_side)).astype(np.float32), "emap")
    nodes = [
        helper.make_node("MatMul", ["source", "colour"], ["rgb"]),  # [1,3]
        helper.make_node("Sigmoid", ["rgb"], ["rgb01"]),
        helper.make_node("Unsqueeze", ["rgb01", "axes"], ["rgb4"]),  # [1,3,1,1]
        helper.make_node("Mul", ["target", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "rgb4"], ["output"]),
    ]
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    graph = helper.make_graph(
        nodes, "swapper",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, side, side]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, emap_side])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, side, side])],
        [colour_of_identity, axes, zero, emap])
    return _save(graph, path)


def write_identity_swapper(path: Path) -> Path:
    """inswapper's signature, giving back the aligned face it was given: pasting it back
    must leave the picture as it was (alignment and paste-back agree)."""
    from onnx import TensorProto, helper, numpy_helper

    emap = numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    nodes = [helper.make_node("ReduceSum", ["source"], ["total"], keepdims=1),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Add", ["target", "nothing"], ["output"])]
    graph = helper.make_graph(nodes, "identity",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
                              [zero, emap])
    return _save(graph, path)


def write_recogniser(path: Path) -> Path:
    """w600k_r50.onnx's signature: [1,3,112,112] in, [1,512] out (mean colour, projected)."""
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(3).normal(0, 1, (3, 512)).astype(np.float32), "w")
    nodes = [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["683"])]
    graph = helper.make_graph(nodes, "recogniser",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])], [weights])
    return _save(graph, path)


def write_gender_age(path: Path, female: bool = True, age: float = 0.3) -> Path:
    """genderage.onnx's signature: [1,3,96,96] in, [1,3] out (female, male scores; age / 100)."""
    from onnx import TensorProto, helper, numpy_helper

    scores = np.array([[1.0, 0.0, age]] if female else [[0.0, 1.0, age]], np.float32)
    nodes = [helper.make_node("ReduceMean", ["data"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["scores", "nothing"], ["fc1"])]
    graph = helper.make_graph(nodes, "genderage",
                              [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
                              [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(scores, "scores"),
                               numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    return _save(graph, path)


def write_restorer(path: Path, side: int = 512) -> Path:
    """A GPEN-BFR-like restorer: [1,3,S,S] in -1..1 -> the same, darkened."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Mul", ["input", "half"], ["shifted"]), helper.make_node("Sub", ["shifted", "half"], ["output"])]
    graph = helper.make_graph(nodes, "restorer",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, side, side])],
                              [numpy_helper.from_array(np.full(1, 0.5, np.float32), "half")])
    return _save(graph, path)


def write_wrong_model(path: Path) -> Path:
    """An ONNX model of another shape (one 64 x 64 input)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])])
    return _save(graph, path)
