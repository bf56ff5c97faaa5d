"""Masks, inpainting (ordinary and 9-channel models) and outpainting through the executor."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.loader import load_checkpoint
from diffusion.masks import grow_mask, pad_for_outpaint
from diffusion.types import ModelFamily
from executor.cache import compute_keys
from executor.run import Executor
from nodes.folders import Folders
from nodes.mask_nodes import load_mask_file

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    inpainting = {"family": ModelFamily.SD1, "seed": 5, "unet_in_channels": 9}
    folders = make_folders({"sd1.safetensors": ModelFamily.SD1, "sd1-inpainting.safetensors": inpainting},
                           input=True)
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 40, 40)
    rgba[..., 3] = 255
    rgba[8:40, 16:48, 3] = 0  # transparent = repaint
    rgba[..., 1] = np.arange(64, dtype=np.uint8)[None, :] * 4
    Image.fromarray(rgba, "RGBA").save(folders.input / "holed.png")
    return folders


def _output(executor: Executor, prompt: dict, node: str, slot: int = 0):
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys[node]).outputs[slot]


def _workflow(name: str, ckpt: str = "sd1.safetensors", steps: int = 4) -> dict:
    prompt = json.loads((WORKFLOWS / name).read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    for node in prompt.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = steps
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = "holed.png"
    return prompt


def test_load_image_mask_channels(folders):
    path = folders.input / "holed.png"
    alpha = load_mask_file(path, "alpha")
    assert alpha.shape == (1, 64, 64)
    assert alpha[0, 10, 20] == 1.0 and alpha[0, 50, 50] == 0.0
    green = load_mask_file(path, "green")
    assert torch.allclose(green[0, 0], torch.arange(64) * 4 / 255.0)


def test_grow_mask_dilates_by_the_box():
    mask = torch.zeros(1, 1, 16, 16)
    mask[0, 0, 8, 8] = 1.0
    grown = grow_mask(mask, 3)
    assert grown.shape == mask.shape
    assert grown[0, 0, 7:10, 7:10].eq(1).all() and grown.sum() == 9


def test_pad_for_outpaint_matches_the_reference_loop():
    image = torch.rand(1, 20, 24, 3)
    out, mask = pad_for_outpaint(image, 8, 0, 16, 4, 5)
    assert out.shape == (1, 24, 48, 3) and mask.shape == (1, 24, 48)
    assert torch.equal(out[:, 0:20, 8:32], image) and out[0, 22, 40, 0] == 0.5
    expected = torch.ones(24, 48)
    inner = torch.zeros(20, 24)
    for i in range(20):  # ComfyUI's rule, pixel by pixel (top not padded: no ramp there)
        for j in range(24):
            d = min(20, 20 - i, j, 24 - j)
            if d < 5:
                inner[i, j] = ((5 - d) / 5) ** 2
    expected[0:20, 8:32] = inner
    torch.testing.assert_close(mask[0], expected)


def test_inpaint_run_keeps_unmasked_latents_exactly(folders):
    executor = Executor(folders)
    prompt = _workflow("inpaint.json")
    result = executor.run(prompt)
    assert result.status == "success", result.error
    encoded = _output(executor, prompt, "11")
    sampled = _output(executor, prompt, "3")["samples"]
    mask = encoded["noise_mask"]
    assert mask.shape == (1, 1, 64, 64) and mask[0, 0, 20, 30] == 1 and mask[0, 0, 60, 2] == 0
    # grown by a 6x6 box around the transparent rows 8..39: 2 rows up, 3 down (ComfyUI's padding)
    assert mask[0, 0, 6, 30] == 1 and mask[0, 0, 5, 30] == 0
    assert mask[0, 0, 42, 30] == 1 and mask[0, 0, 43, 30] == 0
    latent_mask = torch.nn.functional.interpolate(mask, size=sampled.shape[-2:], mode="bilinear")
    keep = (latent_mask == 0).expand_as(sampled)
    assert keep.any() and (~keep).any()
    assert torch.equal(sampled[keep], encoded["samples"][keep])
    assert not torch.equal(sampled[~keep], encoded["samples"][~keep])


def test_set_latent_noise_mask_with_a_partial_denoise(folders):
    executor = Executor(folders)
    prompt = json.loads((WORKFLOWS / "img2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["10"]["inputs"]["image"] = "holed.png"
    prompt["3"]["inputs"].update(steps=4, denoise=0.7, latent_image=["21", 0])
    prompt["20"] = {"class_type": "LoadImageMask", "inputs": {"image": "holed.png", "channel": "alpha"}}
    prompt["21"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["11", 0], "mask": ["20", 0]}}
    assert executor.run(prompt).status == "success"
    before = _output(executor, prompt, "11")["samples"]
    after = _output(executor, prompt, "3")["samples"]
    assert torch.equal(after[..., 6:, :], before[..., 6:, :])  # rows below the hole (latent 1..5)
    assert not torch.equal(after[..., 1:5, 2:6], before[..., 1:5, 2:6])


def test_nine_channel_inpainting_model_loads_and_samples(folders):
    parts = load_checkpoint(folders.models / "checkpoints" / "sd1-inpainting.safetensors",
                            device=torch.device("cpu"), dtype=torch.float32)
    assert parts.model.in_channels == 9
    executor = Executor(folders)
    prompt = _workflow("inpaint.json", ckpt="sd1-inpainting.safetensors")
    prompt["12"] = {"class_type": "InpaintModelConditioning", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2], "pixels": ["10", 0], "mask": ["10", 1]}}
    prompt["3"]["inputs"].update(positive=["12", 0], negative=["12", 1], latent_image=["12", 2])
    result = executor.run(prompt)
    assert result.status == "success", result.error
    positive = _output(executor, prompt, "12", 0)
    assert positive[0][1]["concat_latent_image"].shape == (1, 4, 8, 8)
    assert positive[0][1]["concat_mask"].shape == (1, 1, 64, 64)
    latent = _output(executor, prompt, "12", 2)
    sampled = _output(executor, prompt, "3")["samples"]
    keep = torch.nn.functional.interpolate(latent["noise_mask"], size=(8, 8), mode="bilinear") == 0
    keep = keep.expand_as(sampled)
    assert torch.equal(sampled[keep], latent["samples"][keep])
    # the masked image reaches the UNet: without a noise mask the whole latent changes
    prompt["12"]["inputs"]["noise_mask"] = False
    assert executor.run(prompt).status == "success"
    assert "noise_mask" not in _output(executor, prompt, "12", 2)
    assert not torch.equal(_output(executor, prompt, "3")["samples"][keep], latent["samples"][keep])


def test_outpaint_workflow_runs_end_to_end(folders):
    executor = Executor(folders)
    prompt = _workflow("outpaint.json")
    result = executor.run(prompt)
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    saved = Image.open(folders.output / record["subfolder"] / record["filename"])
    assert saved.size == (128, 64)
    padded = _output(executor, prompt, "12", 0)
    mask = _output(executor, prompt, "12", 1)
    assert padded.shape == (1, 64, 128, 3) and mask[0, 30, 100] == 1 and mask[0, 30, 5] == 0
