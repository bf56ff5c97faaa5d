"""The shipped built-in model: it loads offline, the shipped workflows use it, and a small
sample of the evaluation passes (while a random-weight model of the same kind fails it)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffusion.types import ModelFamily
from training.evaluate import evaluate
from training.shape_scoring import detect, mask_iou
from training.shapes_data import Scene, render
from training.train import DEFAULT_NAME

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ROOT / "models" / "checkpoints" / DEFAULT_NAME
# A little below the targets of the full evaluation (bench/builtin_model_eval.py).
THRESHOLDS = {"colour": 0.90, "background": 0.90, "shape": 0.75, "position": 0.75}


needs_builtin = pytest.mark.skipif(
    not BUILTIN.exists(),
    reason="the built-in model has not reached its evaluation targets yet and does not ship (issue 3)",
)


@pytest.fixture(scope="module")
def report():
    return evaluate(BUILTIN, count=24, recolours=6, seed=77)


@needs_builtin
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


@needs_builtin
def test_shipped_workflows_use_the_builtin_model():
    for name in ("txt2img.json", "img2img.json"):
        prompt = json.loads((ROOT / "workflows" / name).read_text())
        assert prompt["4"]["inputs"]["ckpt_name"] == DEFAULT_NAME


@needs_builtin
def test_sample_of_the_evaluation_passes(report):
    summary = report.summary()
    for attribute, threshold in THRESHOLDS.items():
        assert summary[f"{attribute}_accuracy"] >= threshold, (attribute, summary)
    assert summary["img2img_mean_iou"] >= 0.6, summary
    assert summary["img2img_colour_accuracy"] >= 0.66, summary


@needs_builtin
def test_red_square_turns_blue_where_it_was(tmp_path):
    """The user story: a picture of a red square, the prompt 'a blue square', denoise 0.6."""
    from executor.run import Executor
    from nodes.folders import Folders

    folders = Folders.under(tmp_path)
    folders.input.mkdir(parents=True)
    (folders.models / "checkpoints").mkdir(parents=True)
    (folders.models / "checkpoints" / DEFAULT_NAME).symlink_to(BUILTIN)
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
