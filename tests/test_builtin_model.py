"""The shipped built-in model: it loads offline, the shipped workflows use it, and a small
sample of the evaluation passes (while a random-weight model of the same kind fails it).

The thresholds sit a little below the issue's targets (colours 95%, shape and position
85%, img2img recolour mask IoU 0.7); the full evaluation (bench/builtin_model_eval.py, 200
generations and 40 recolours) measured colour 100%, background 100%, shape 99.5%, position
100%, recolour IoU 0.78. Chance is 10%, 10%, 17% and 11%.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffusion.types import ModelFamily
from executor.run import Executor
from training.evaluate import evaluate
from training.shape_scoring import detect, mask_iou, nearest_colour_indices
from training.shapes_data import COLOUR_NAMES, Scene, render
from training.train import DEFAULT_NAME

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ROOT / "models" / "checkpoints" / DEFAULT_NAME
THRESHOLDS = {"colour": 0.90, "background": 0.90, "shape": 0.80, "position": 0.80}
IMG2IMG_MEAN_IOU = 0.65  # target 0.7
IMG2IMG_COLOUR = 0.8


@pytest.fixture
def folders(make_folders, tmp_path):
    """App folders under tmp_path holding a copy of the built-in model (the loader refuses
    symlinks that leave the models folder)."""
    return make_folders(builtin=True, input=True, base=tmp_path)


@pytest.fixture(scope="module")
def report():
    return evaluate(BUILTIN, count=24, recolours=6, seed=77)


def test_shipped_file_is_small_and_loads_with_the_hub_off(monkeypatch):
    assert BUILTIN.exists(), "the built-in model must ship in models/checkpoints"
    assert BUILTIN.stat().st_size <= 40 * 1024 * 1024

    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    from diffusion.loader import load_checkpoint

    parts = load_checkpoint(BUILTIN)
    assert parts.family == ModelFamily.SD1


def test_shipped_workflows_use_the_builtin_model():
    """Every shipped workflow that loads a model loads the built-in one (the face swap needs none)."""
    model_free = {"face_swap.json"}
    for path in sorted((ROOT / "workflows").glob("*.json")):
        prompt = json.loads(path.read_text())
        loaders = [n for n in prompt.values() if n["class_type"] == "CheckpointLoaderSimple"]
        assert loaders or path.name in model_free, path.name
        assert all(n["inputs"]["ckpt_name"] == DEFAULT_NAME for n in loaders), path.name


def test_sample_of_the_evaluation_passes(report):
    summary = report.summary()
    for attribute, threshold in THRESHOLDS.items():
        assert summary[f"{attribute}_accuracy"] >= threshold, (attribute, summary)
    assert summary["img2img_mean_iou"] >= IMG2IMG_MEAN_IOU, summary
    assert summary["img2img_colour_accuracy"] >= IMG2IMG_COLOUR, summary


def test_red_square_turns_blue_where_it_was(folders):
    """The user story: a picture of a red square, the prompt 'a blue square', denoise 0.6."""
    source = render(Scene("square", "red", "white", "large", "centre"))
    source.save(folders.input / "red_square.png")
    prompt = json.loads((ROOT / "workflows" / "img2img.json").read_text())
    prompt["10"]["inputs"]["image"] = "red_square.png"
    prompt["6"]["inputs"]["text"] = "a blue square"
    prompt["3"]["inputs"].update(denoise=0.6, seed=1)
    result = Executor(folders).run(prompt)
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    image = Image.open(folders.output / record["subfolder"] / record["filename"]).convert("RGB")
    before, after = detect(source), detect(image)
    assert after.colour == "blue"
    assert mask_iou(before.mask, after.mask) >= 0.7


def test_random_weight_model_fails_the_same_evaluation(tmp_path):
    """The thresholds mean something: a random-weight SD1 model does not reach them."""
    from tests.tiny_models import write_tiny_checkpoint

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    random_model = write_tiny_checkpoint(folder / "random.safetensors", ModelFamily.SD1)
    summary = evaluate(random_model, count=12, recolours=0, seed=77).summary()
    met = [summary[f"{a}_accuracy"] >= t for a, t in THRESHOLDS.items()]
    assert not all(met), summary
    assert summary["shape_accuracy"] < THRESHOLDS["shape"]


def test_inpainting_a_masked_region_with_a_blue_circle(folders):
    """Issue 7's check on the built-in model: the transparent (masked) region of a picture
    becomes a blue circle; outside it, pixels keep their named colour. The latents outside
    the mask are kept exactly (tests/test_inpaint.py); the decoded pixels drift a little,
    because the VAE decoder normalises over the whole frame."""
    source = render(Scene("square", "red", "white", "small", "right")).convert("RGBA")
    alpha = np.full((128, 128), 255, np.uint8)
    alpha[36:92, 4:60] = 0  # LoadImage's MASK is 1 where the picture is transparent
    source.putalpha(Image.fromarray(alpha))
    source.save(folders.input / "source.png")
    prompt = json.loads((ROOT / "workflows" / "inpaint.json").read_text())
    prompt["10"]["inputs"]["image"] = "source.png"
    prompt["6"]["inputs"]["text"] = "a large blue circle on the left on a white background"
    prompt["3"]["inputs"]["seed"] = 2
    result = Executor(folders).run(prompt)
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    out = np.asarray(Image.open(folders.output / record["subfolder"] / record["filename"]).convert("RGB"), float)
    masked = alpha == 0
    assert (nearest_colour_indices(out[masked]) == COLOUR_NAMES.index("blue")).mean() >= 0.5
    outside = np.ones_like(masked)
    outside[28:100, 0:68] = False  # the mask grown by the workflow's grow_mask_by, and a margin
    before = nearest_colour_indices(np.asarray(source.convert("RGB"), float)[outside])
    assert (nearest_colour_indices(out[outside]) == before).mean() >= 0.85
