"""The ReActor nodes through the executor and the server: ReActor workflows run on the
built-in swap (a swapper or restorer they name but this install lacks is replaced, and
said), face indexes and batches, saved face models, the inswapper path on stand-in ONNX
models, gender filters, restoration, and bad input as clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from executor.run import Executor
from faceswap.finder import find_faces
from faceswap.landmark_swap import hull_mask
from nodes.folders import Folders
from tests.faceswap_support import (astronaut, grace_hopper, side_by_side, write_gender_age, write_recogniser,
                                    write_restorer, write_swapper, write_wrong_model)
from tests.server_support import async_test, make_client

REACTOR_INPUTS = ["enabled", "input_image", "swap_model", "facedetection", "face_restore_model",
                  "face_restore_visibility", "codeformer_weight", "detect_gender_input", "detect_gender_source",
                  "input_faces_index", "source_faces_index", "console_log_level"]


def _pictures(folders: Folders) -> None:
    folders.input.mkdir(parents=True, exist_ok=True)
    Image.fromarray(astronaut()).save(folders.input / "target.png")
    Image.fromarray(grace_hopper()).save(folders.input / "source.png")
    Image.fromarray(side_by_side(astronaut(), grace_hopper())).save(folders.input / "pair.png")
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(folders.input / "blank.png")


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Folders:
    folders = Folders.under(tmp_path_factory.mktemp("faceswap_plain"))
    _pictures(folders)
    return folders


@pytest.fixture(scope="module")
def insight(tmp_path_factory) -> Folders:
    folders = Folders.under(tmp_path_factory.mktemp("faceswap_insight"))
    _pictures(folders)
    write_swapper(folders.models / "insightface" / "inswapper_128.onnx")
    write_wrong_model(folders.models / "insightface" / "other.onnx")
    buffalo = folders.models / "insightface" / "models" / "buffalo_l"
    write_recogniser(buffalo / "w600k_r50.onnx")
    write_gender_age(buffalo / "genderage.onnx", female=True)
    write_restorer(folders.models / "facerestore_models" / "GPEN-BFR-512.onnx")
    return folders


def swap_prompt(target: str = "target.png", source: str = "source.png", **inputs) -> dict:
    settings = {"enabled": True, "swap_model": "inswapper_128.onnx", "facedetection": "retinaface_resnet50",
                "face_restore_model": "codeformer-v0.1.0.pth", "face_restore_visibility": 1.0,
                "codeformer_weight": 0.5, "detect_gender_input": "no", "detect_gender_source": "no",
                "input_faces_index": "0", "source_faces_index": "0", "console_log_level": 1,
                "input_image": ["1", 0], "source_image": ["2", 0]}
    settings.update(inputs)
    return {"1": {"class_type": "LoadImage", "inputs": {"image": target}},
            "2": {"class_type": "LoadImage", "inputs": {"image": source}},
            "3": {"class_type": "ReActorFaceSwap", "inputs": settings},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "swap"}}}


def saved(folders: Folders, result, node: str = "4", index: int = 0) -> np.ndarray:
    record = result.outputs[node]["images"][index]
    return np.asarray(Image.open(folders.output / record["subfolder"] / record["filename"]).convert("RGB"))


def run(folders: Folders, prompt: dict):
    result = Executor(folders).run(prompt)
    assert result.status == "success", result.error
    return result


def test_a_reactor_workflow_runs_on_the_built_in_swap(plain):
    result = run(plain, swap_prompt())
    target = astronaut()
    swapped = saved(plain, result)
    (face,) = find_faces(target)
    hull = hull_mask(target.shape[:2], face.landmarks).astype(bool)
    changed = (swapped != target).any(axis=-1)
    assert changed[hull].mean() > 0.5 and not changed[~hull].any()
    text = result.outputs["3"]["text"]
    assert "inswapper_128.onnx is not in models/insightface or models/reswapper; the built-in landmark swap " \
           "was used instead" in text
    assert "image 1: face 0 swapped" in text
    assert any("codeformer-v0.1.0.pth is not in models/facerestore_models" in line for line in text)


def test_several_faces_by_index_and_whole_batches(plain):
    pair = np.asarray(Image.open(plain.input / "pair.png").convert("RGB"))
    middle = pair.shape[1] * astronaut().shape[1] // (astronaut().shape[1] + grace_hopper().shape[1] * 512 // 600)
    both = saved(plain, run(plain, swap_prompt("pair.png", input_faces_index="0,1")))
    one_result = run(plain, swap_prompt("pair.png", input_faces_index="1,3"))
    one = saved(plain, one_result)
    changed_both, changed_one = (both != pair).any(-1), (one != pair).any(-1)
    assert changed_both[:, :middle].any() and changed_both[:, middle:].any()
    assert changed_one.any() and not (changed_one[:, :middle].any() and changed_one[:, middle:].any())
    assert "image 1: target face 3 asked for, but only 2 found" in one_result.outputs["3"]["text"]
    prompt = swap_prompt()
    prompt["5"] = {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["1", 0]}}
    prompt["3"]["inputs"]["input_image"] = ["5", 0]
    batch = run(plain, prompt)
    first, second = saved(plain, batch, index=0), saved(plain, batch, index=1)
    assert np.array_equal(first, second) and (first != astronaut()).any()
    assert {"image 1: face 0 swapped", "image 2: face 0 swapped"} <= set(batch.outputs["3"]["text"])


def test_no_face_in_the_source_or_the_target_passes_the_image_through(plain):
    no_source = run(plain, swap_prompt(source="blank.png"))
    assert np.array_equal(saved(plain, no_source), astronaut())
    assert "no face found in the source image" in no_source.outputs["3"]["text"]
    no_target = run(plain, swap_prompt(target="blank.png"))
    assert np.array_equal(saved(plain, no_target), np.full((256, 256, 3), 128, np.uint8))
    assert "image 1: no face found; passed through unchanged" in no_target.outputs["3"]["text"]


def test_bad_input_is_a_node_error_and_the_next_prompt_runs(plain):
    executor = Executor(plain)
    bad_index = executor.run(swap_prompt(input_faces_index="first"))
    assert bad_index.status == "error" and "is not a list of face numbers" in bad_index.error["exception_message"]
    no_source = swap_prompt()
    del no_source["3"]["inputs"]["source_image"]
    failed = executor.run(no_source)
    assert failed.status == "error" and "connect a source_image" in failed.error["exception_message"]
    assert executor.run(swap_prompt()).status == "success"


def test_a_saved_face_model_swaps_like_its_picture_and_is_never_overwritten(plain):
    save = {"1": {"class_type": "LoadImage", "inputs": {"image": "source.png"}},
            "2": {"class_type": "ReActorSaveFaceModel", "inputs": {"save_mode": True, "face_model_name": "grace",
                                                                   "select_face_index": 0, "image": ["1", 0]}}}
    first = run(plain, save)
    assert first.outputs["2"]["text"] == ["face model saved as grace.safetensors"]
    second = Executor(plain).run(save)
    assert second.outputs["2"]["text"] == ["face model saved as grace_1.safetensors"]
    faces = plain.models / "reactor" / "faces"
    assert sorted(p.name for p in faces.iterdir()) == ["grace.safetensors", "grace_1.safetensors"]
    from safetensors import safe_open

    with safe_open(str(faces / "grace.safetensors"), framework="np") as handle:
        keys = set(handle.keys())
    assert {"bbox", "kps", "det_score", "landmark_3d_68", "pose", "landmark_2d_106", "gender", "age"} <= keys
    assert {"face_picture", "face_landmarks"} <= keys
    loaded = swap_prompt()
    loaded["2"] = {"class_type": "ReActorLoadFaceModel", "inputs": {"face_model": "grace.safetensors"}}
    loaded["3"]["inputs"]["face_model"] = ["2", 0]
    del loaded["3"]["inputs"]["source_image"]
    assert np.array_equal(saved(plain, run(plain, loaded)), saved(plain, run(plain, swap_prompt())))


def test_the_inswapper_path_uses_the_model_and_changes_only_the_face(insight):
    result = run(insight, swap_prompt(face_restore_model="none"))
    target, swapped = astronaut(), saved(insight, result)
    (face,) = find_faces(target)
    x1, y1, x2, y2 = face.bbox
    grow = 0.6 * (x2 - x1)
    changed = (swapped != target).any(axis=-1)
    region = np.zeros_like(changed)
    region[int(max(0, y1 - grow)):int(y2 + grow), int(max(0, x1 - grow)):int(x2 + grow)] = True
    assert changed[region].any() and not changed[~region].any()
    assert result.outputs["3"]["text"] == ["image 1: face 0 swapped"]
    # The stand-in model paints a flat colour: the face's middle is uniform now.
    middle = swapped[int(y1 + 0.4 * (y2 - y1)):int(y1 + 0.6 * (y2 - y1)), int(x1 + 0.4 * (x2 - x1)):int(x1 + 0.6 * (x2 - x1))]
    assert middle.reshape(-1, 3).std(axis=0).max() < 3


def test_gender_filters_use_the_gender_model(insight):
    female_only = run(insight, swap_prompt(detect_gender_input="male"))
    assert np.array_equal(saved(insight, female_only), astronaut())
    assert "image 1: target face 0 is not male; skipped" in female_only.outputs["3"]["text"]
    options = {"input_faces_order": "large-small", "input_faces_index": "0", "detect_gender_input": "female",
               "source_faces_order": "large-small", "source_faces_index": "0", "detect_gender_source": "no",
               "console_log_level": 1, "restore_swapped_only": True}
    prompt = swap_prompt()
    prompt["5"] = {"class_type": "ReActorOptions", "inputs": options}
    keep = ("enabled", "input_image", "swap_model", "facedetection", "face_restore_model",
            "face_restore_visibility", "codeformer_weight", "source_image")
    prompt["3"] = {"class_type": "ReActorFaceSwapOpt",
                   "inputs": {**{k: v for k, v in prompt["3"]["inputs"].items() if k in keep}, "options": ["5", 0],
                              "face_restore_model": "none"}}
    assert (saved(insight, run(insight, prompt)) != astronaut()).any()


def test_a_model_of_another_shape_is_a_node_error_naming_the_expected_inputs(insight):
    executor = Executor(insight)
    failed = executor.run(swap_prompt(swap_model="other.onnx"))
    assert failed.status == "error" and failed.error["node_id"] == "3"
    message = failed.error["exception_message"]
    assert "other.onnx" in message and "'target' [1, 3, 128, 128]" in message and "x [1, 3, 64, 64]" in message
    assert executor.run(swap_prompt(face_restore_model="none")).status == "success"


def test_restoration_changes_only_the_faces(insight):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "target.png"}},
              "2": {"class_type": "ReActorRestoreFace", "inputs": {
                  "image": ["1", 0], "facedetection": "retinaface_resnet50", "model": "GPEN-BFR-512.onnx",
                  "visibility": 1.0, "codeformer_weight": 0.5}},
              "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "restored"}}}
    result = run(insight, prompt)
    target, restored = astronaut(), saved(insight, result)
    changed = (restored != target).any(axis=-1)
    (face,) = find_faces(target)
    x1, y1, x2, y2 = face.bbox
    assert changed.any() and restored[changed].mean() < target[changed].mean()  # the stand-in darkens
    ys, xs = np.nonzero(changed)
    assert xs.min() > x1 - (x2 - x1) and xs.max() < x2 + (x2 - x1) and ys.min() > y1 - (y2 - y1)
    assert result.outputs["2"]["text"] == ["image 1: 1 face(s) restored with GPEN-BFR-512.onnx"]


@async_test
async def test_object_info_has_reactors_nodes_and_inputs(tmp_path):
    (tmp_path / "models" / "insightface").mkdir(parents=True)
    write_swapper(tmp_path / "models" / "insightface" / "inswapper_128.onnx")
    async with make_client(tmp_path, registry=None) as client:
        info = await (await client.get("/object_info")).json()
    swap = info["ReActorFaceSwap"]
    assert swap["input_order"]["required"] == REACTOR_INPUTS
    assert swap["input_order"]["optional"] == ["source_image", "face_model", "face_boost"]
    assert swap["output"] == ["IMAGE", "FACE_MODEL", "IMAGE"]
    assert swap["output_name"] == ["SWAPPED_IMAGE", "FACE_MODEL", "ORIGINAL_IMAGE"]
    assert swap["input"]["required"]["swap_model"][0] == ["inswapper_128.onnx", "built-in (face landmarks)"]
    assert "not roop quality" in swap["description"]
    assert info["ReActorFaceSwapOpt"]["input_order"]["optional"] == ["source_image", "face_model", "options",
                                                                      "face_boost"]
    assert info["ReActorOptions"]["output"] == ["OPTIONS"]
    assert info["ReActorSaveFaceModel"]["input_order"]["required"] == ["save_mode", "face_model_name",
                                                                        "select_face_index"]
    assert info["ReActorLoadFaceModel"]["output_name"] == ["FACE_MODEL", "FACE_MODEL_NAME"]
    assert info["ReActorRestoreFace"]["input_order"]["required"] == ["image", "facedetection", "model", "visibility",
                                                                      "codeformer_weight"]


def test_workflows_from_older_reactor_versions_get_the_newer_inputs_defaults(plain):
    prompt = swap_prompt()
    del prompt["3"]["inputs"]["enabled"]  # ReActor added `enabled` later
    assert (saved(plain, run(plain, prompt)) != astronaut()).any()
    options = {"input_faces_order": "large-small", "input_faces_index": "0", "detect_gender_input": "no",
               "source_faces_order": "large-small", "source_faces_index": "0", "detect_gender_source": "no",
               "console_log_level": 1}  # no restore_swapped_only, as before ReActor had it
    opt = {"1": prompt["1"], "2": prompt["2"], "5": {"class_type": "ReActorOptions", "inputs": options},
           "3": {"class_type": "ReActorFaceSwapOpt", "inputs": {
               "enabled": True, "input_image": ["1", 0], "source_image": ["2", 0], "swap_model": "inswapper_128.onnx",
               "facedetection": "YOLOv5l", "face_restore_model": "GFPGANv1.4.pth", "face_restore_visibility": 1,
               "codeformer_weight": 0.5, "options": ["5", 0]}},
           "4": prompt["4"]}
    result = run(plain, opt)
    assert (saved(plain, result) != astronaut()).any()
    assert any("GFPGANv1.4.pth is not in models/facerestore_models" in line for line in result.outputs["3"]["text"])


def test_the_shipped_face_swap_workflow_runs_and_a_detailer_can_touch_up(plain):
    import json
    import shutil
    from pathlib import Path

    from tests.test_detailer import DEFAULT_NAME, base_prompt, face_detailer

    workflow = json.loads((Path(__file__).resolve().parent.parent / "workflows" / "face_swap.json").read_text())
    workflow["1"]["inputs"]["image"], workflow["2"]["inputs"]["image"] = "target.png", "source.png"
    swapped = saved(plain, run(plain, workflow))
    assert (swapped != astronaut()).any()
    (plain.models / "checkpoints").mkdir(parents=True, exist_ok=True)
    builtin = Path(__file__).resolve().parent.parent / "models" / "checkpoints" / DEFAULT_NAME
    shutil.copyfile(builtin, plain.models / "checkpoints" / DEFAULT_NAME)
    touched = {key: node for key, node in workflow.items() if key != "4"}
    touched.update({**base_prompt("a face"),
                    "20": {"class_type": "DetectorProvider", "inputs": {"model_name": "face (mediapipe, full range)"}},
                    "21": face_detailer(["3", 0], steps=2, denoise=0.2),
                    "9": {"class_type": "SaveImage", "inputs": {"images": ["21", 0], "filename_prefix": "touched"}}})
    result = run(plain, touched)
    assert "1 of 1 region(s) re-drawn" in result.outputs["21"]["text"][0]
    changed = (saved(plain, result, node="9") != swapped).any(axis=-1)
    (face,) = find_faces(astronaut())
    x1, y1, x2, y2 = face.bbox
    ys, xs = np.nonzero(changed)
    assert xs.min() > x1 - (x2 - x1) and xs.max() < x2 + (x2 - x1) and ys.max() < y2 + (y2 - y1)


def test_blended_and_weighted_face_models_and_similarity(plain):
    from faceswap.face_models import load_face_model

    pictures = {"1": {"class_type": "LoadImage", "inputs": {"image": "source.png"}},
                "2": {"class_type": "LoadImage", "inputs": {"image": "target.png"}},
                "3": {"class_type": "LoadImage", "inputs": {"image": "blank.png"}}}
    scale = {"class_type": "ImageScale", "inputs": {"upscale_method": "bilinear", "width": 512, "height": 512,
                                                    "crop": "disabled"}}
    prompt = {**pictures,
              "4": {**scale, "inputs": {**scale["inputs"], "image": ["1", 0]}},
              "5": {**scale, "inputs": {**scale["inputs"], "image": ["3", 0]}},
              "6": {"class_type": "ImageBatch", "inputs": {"image1": ["4", 0], "image2": ["2", 0]}},
              "7": {"class_type": "ImageBatch", "inputs": {"image1": ["6", 0], "image2": ["5", 0]}},
              "8": {"class_type": "ReActorBuildFaceModel", "inputs": {
                  "save_mode": True, "send_only": False, "face_model_name": "blend", "compute_method": "Mean",
                  "images": ["7", 0]}}}
    result = run(plain, prompt)
    assert result.outputs["8"]["text"] == ["image 3: no face found; skipped", "2 face(s) blended (Mean)",
                                           "face model saved as blend.safetensors"]
    blend = load_face_model(plain.models / "reactor" / "faces" / "blend.safetensors")
    one = Executor(plain).run({**pictures, "4": prompt["4"], "9": {"class_type": "ReActorSaveFaceModel", "inputs": {
        "save_mode": True, "face_model_name": "grace_only", "select_face_index": 0, "image": ["4", 0]}}})
    assert one.status == "success"
    grace_only = load_face_model(plain.models / "reactor" / "faces" / "grace_only.safetensors")
    assert blend.face_picture.shape == grace_only.face_picture.shape
    assert not np.array_equal(blend.face_picture, grace_only.face_picture)  # the astronaut is mixed in
    weighted = {**pictures,
                "4": {"class_type": "ReActorSetWeight", "inputs": {"input_image": ["2", 0], "faceswap_weight": "50%",
                                                                   "source_image": ["1", 0]}},
                "5": {"class_type": "ReActorFaceSwap", "inputs": {**swap_prompt()["3"]["inputs"],
                                                                  "input_image": ["4", 0], "face_model": ["4", 1]}},
                "9": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "half"}}}
    del weighted["5"]["inputs"]["source_image"]
    half = saved(plain, run(plain, weighted), node="9")
    full = saved(plain, run(plain, swap_prompt()))
    target = astronaut()
    assert 0 < np.abs(half.astype(int) - target).sum() < np.abs(full.astype(int) - target).sum()


def test_face_similarity_scores_a_face_with_itself_highest(plain):
    import torch

    from nodes.context import NodeContext
    from nodes.faceswap_extras import ReActorFaceSimilarity

    ctx = NodeContext(plain)
    grace = torch.from_numpy(grace_hopper().astype(np.float32) / 255)[None]
    astro = torch.from_numpy(astronaut().astype(np.float32) / 255)[None]
    same, same_text = ReActorFaceSimilarity().execute(ctx, grace, grace)
    other, _ = ReActorFaceSimilarity().execute(ctx, grace, astro)
    assert same == pytest.approx(1.0) and same_text == "100.00%" and 0 <= other < 0.5
    blank = torch.full((1, 64, 64, 3), 0.5)
    assert ReActorFaceSimilarity().execute(ctx, grace, blank) == (0.0, "Face not found in one or both images")


def test_swap_models_list_swappers_only_and_new_files_rerun_the_swap(tmp_path):
    from nodes.registry import REGISTRY, object_info

    folders = Folders.under(tmp_path)
    _pictures(folders)
    write_recogniser(folders.models / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx")
    choices = lambda: object_info(REGISTRY, folders, names=["ReActorFaceSwap"])[  # noqa: E731
        "ReActorFaceSwap"]["input"]["required"]["swap_model"][0]
    assert choices() == ["built-in (face landmarks)"]
    executor = Executor(folders)
    first = executor.run(swap_prompt(face_restore_model="none"))
    assert "the built-in landmark swap was used instead" in first.outputs["3"]["text"][0]
    write_swapper(folders.models / "insightface" / "inswapper_128.onnx")
    assert choices() == ["inswapper_128.onnx", "built-in (face landmarks)"]
    second = executor.run(swap_prompt(face_restore_model="none"))
    assert second.outputs["3"]["text"] == ["image 1: face 0 swapped"]
    assert not np.array_equal(saved(folders, first), saved(folders, second))


def test_rgba_and_grey_pictures_are_swapped(plain):
    rgba = np.dstack([astronaut(), np.full(astronaut().shape[:2], 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(plain.input / "target_rgba.png")
    Image.fromarray(astronaut()).convert("L").save(plain.input / "target_grey.png")
    for name in ("target_rgba.png", "target_grey.png"):
        result = run(plain, swap_prompt(name))
        assert "image 1: face 0 swapped" in result.outputs["3"]["text"], name


def test_a_face_model_name_with_folders_is_refused(plain):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "source.png"}},
              "2": {"class_type": "ReActorSaveFaceModel", "inputs": {
                  "save_mode": True, "face_model_name": "../escape", "select_face_index": 0, "image": ["1", 0]}}}
    failed = Executor(plain).run(prompt)
    assert failed.status == "error" and "must be a plain file name" in failed.error["exception_message"]
    assert not (plain.models / "reactor" / "escape.safetensors").exists()
