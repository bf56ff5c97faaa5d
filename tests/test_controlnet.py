"""ControlNet: both file layouts load from test-written tiny files; strength, ranges, chains."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from diffusion.controlnet import ControlHint, load_controlnet
from diffusion.denoiser import ModelDenoiser
from diffusion.loader import load_checkpoint
from diffusion.types import ModelFamily
from executor.cache import compute_keys
from executor.run import Executor
from tests.tiny_models import build_tiny_controlnet, build_tiny_diffusers_parts, controlnet_to_original
from tests.tiny_models import write_original_checkpoint

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup(make_folders):
    folders = make_folders(dirs=["checkpoints", "controlnet"], input=True)
    parts = build_tiny_diffusers_parts(ModelFamily.SD1, seed=0)
    write_original_checkpoint(parts, ModelFamily.SD1, folders.models / "checkpoints" / "sd1.safetensors")
    net = build_tiny_controlnet(parts["unet"])
    save_file(controlnet_to_original(net, parts["unet"]), str(folders.models / "controlnet" / "ldm.safetensors"))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(folders.models / "controlnet" / "diffusers.safetensors"))
    net.save_pretrained(str(folders.models / "controlnet" / "folder"))
    edges = np.zeros((64, 64, 3), dtype=np.uint8)
    edges[20:44, 30:34] = 255
    Image.fromarray(edges).save(folders.input / "edges.png")
    return folders, parts, net


@pytest.mark.parametrize("name", ["ldm.safetensors", "diffusers.safetensors", "folder"])
def test_both_layouts_load_the_same_weights(setup, name):
    folders, _, net = setup
    loaded = load_controlnet(folders.models / "controlnet" / name, CPU, torch.float32)
    reference, got = net.state_dict(), loaded.module.state_dict()
    assert set(reference) == set(got)
    assert all(torch.equal(reference[k], got[k]) for k in reference)
    for key in ("block_out_channels", "attention_head_dim", "conditioning_embedding_out_channels", "layers_per_block"):
        assert list(np.atleast_1d(loaded.module.config[key])) == list(np.atleast_1d(net.config[key])), key


@pytest.mark.parametrize("family", [ModelFamily.SD2, ModelFamily.SDXL])
def test_other_families_load_from_the_original_layout(tmp_path, family):
    parts = build_tiny_diffusers_parts(family, seed=1)
    net = build_tiny_controlnet(parts["unet"])
    save_file(controlnet_to_original(net, parts["unet"]), str(tmp_path / "cn.safetensors"))
    loaded = load_controlnet(tmp_path / "cn.safetensors", CPU, torch.float32)
    assert all(torch.equal(v, loaded.module.state_dict()[k]) for k, v in net.state_dict().items())


def _denoise(model, positive, negative, cfg=4.0):
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 2.0
    return ModelDenoiser(model, positive, negative, cfg)(x, 2.0)


def test_strength_zero_range_and_chains_in_the_denoiser(setup):
    folders, _, _ = setup
    parts = load_checkpoint(folders.models / "checkpoints" / "sd1.safetensors", device=CPU, dtype=torch.float32)
    net = load_controlnet(folders.models / "controlnet" / "ldm.safetensors", CPU, torch.float32)
    cond, pooled = parts.clip.encode_text("a line")
    empty, _ = parts.clip.encode_text("")
    image = torch.zeros(1, 64, 64, 3)
    image[:, 20:44, 30:34] = 1.0

    def run(hint):
        extras = {"pooled_output": pooled}
        if hint is not None:
            extras["control"] = hint
        return _denoise(parts.model, [[cond, extras]], [[empty, dict(extras)]])

    base = run(None)
    assert torch.equal(run(ControlHint(net, image, 0.0)), base)  # strength 0: no ControlNet
    assert torch.equal(run(ControlHint(net, image, 1.0, 0.0, 0.0)), base)  # range over before this sigma
    one = run(ControlHint(net, image, 1.0))
    assert not torch.allclose(one, base)
    chained = run(ControlHint(net, image, 1.0, previous=ControlHint(net, image, 1.0)))
    doubled = run(ControlHint(net, image, 2.0))
    torch.testing.assert_close(chained, doubled, atol=1e-5, rtol=0)  # residuals add up


def _workflow(strength: float, name: str = "ldm.safetensors", **extra) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=3, seed=5)
    prompt["20"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": name}}
    prompt["21"] = {"class_type": "LoadImage", "inputs": {"image": "edges.png"}}
    prompt["22"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "control_net": ["20", 0], "image": ["21", 0],
        "strength": strength, "start_percent": 0.0, "end_percent": 1.0, **extra}}
    prompt["3"]["inputs"].update(positive=["22", 0], negative=["22", 1])
    return prompt


def _latent(executor: Executor, prompt: dict) -> torch.Tensor:
    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys["3"]).outputs[0]["samples"]


def test_controlnet_nodes_through_the_executor(setup):
    folders, _, _ = setup
    executor = Executor(folders)
    base = _latent(executor, _workflow(0.0))
    controlled = _latent(executor, _workflow(1.0))
    assert not torch.equal(controlled, base)
    assert torch.equal(_latent(executor, _workflow(1.0, start_percent=1.0)), base)  # never active
    prompt = _workflow(0.7)
    prompt["23"] = {"class_type": "ControlNetApply", "inputs": {"conditioning": ["22", 0], "control_net": ["20", 0],
                                                                "image": ["21", 0], "strength": 0.5}}
    prompt["3"]["inputs"]["positive"] = ["23", 0]
    assert not torch.equal(_latent(executor, prompt), controlled)


def test_a_file_inside_a_diffusers_folder_uses_its_config(setup):
    folders, _, net = setup
    weights = folders.models / "controlnet" / "folder" / "diffusion_pytorch_model.safetensors"
    assert weights.is_file()
    loaded = load_controlnet(weights, CPU, torch.float32)
    assert all(torch.equal(v, loaded.module.state_dict()[k]) for k, v in net.state_dict().items())
