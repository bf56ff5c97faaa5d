"""Loading a checkpoint's parts from separate files (UNETLoader, CLIPLoader, DualCLIPLoader),
with a YAML config (CheckpointLoader), from a diffusers folder (DiffusersLoader), and a
difference ControlNet (DiffControlNetLoader): each gives the same images as the checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusion.checkpoint_save import clip_state_dicts, vae_state_dict
from diffusion.export import unet_to_original
from diffusion.loader import load_checkpoint
from diffusion.types import ModelFamily, PredictionType
from executor.cache import compute_keys
from executor.run import Executor
from nodes.folders import Folders
from tests.tiny_models import (build_tiny_controlnet, build_tiny_diffusers_parts, controlnet_to_original,
                               save_diffusers_folder)

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
UNET_PREFIX = "model.diffusion_model."


def _save_parts(folders: Folders, family: ModelFamily, name: str) -> dict[str, str]:
    """The checkpoint `name` split into a UNet, text encoder and VAE file; their names."""
    parts = load_checkpoint(folders.models / "checkpoints" / name, device=torch.device("cpu"), dtype=torch.float32)
    for kind in ("diffusion_models", "text_encoders", "vae"):
        (folders.models / kind).mkdir(parents=True, exist_ok=True)
    files = {"unet": f"{family.value}_unet.safetensors", "vae": f"{family.value}_vae.safetensors"}
    if family == ModelFamily.SDXL:  # diffusers' layout with its config beside (a UNet alone cannot say
        # how wide SDXL's pooled text is, and the tiny one is not the real width)
        parts.model.unet.save_pretrained(str(folders.models / "diffusion_models" / "sdxl_unet"))
        files["unet"] = "sdxl_unet/diffusion_pytorch_model.safetensors"
    else:
        unet = {k[len(UNET_PREFIX):]: v.contiguous() for k, v in unet_to_original(parts.model.unet).items()}
        save_file(unet, str(folders.models / "diffusion_models" / files["unet"]))
    save_file(vae_state_dict(parts.vae), str(folders.models / "vae" / files["vae"]))
    for encoder, sd in clip_state_dicts(parts.clip).items():
        files[encoder] = f"{family.value}_clip_{encoder}.safetensors"
        save_file(sd, str(folders.models / "text_encoders" / files[encoder]))
    return files


@pytest.fixture(scope="module")
def setup(make_folders):
    families = (ModelFamily.SD1, ModelFamily.SD2, ModelFamily.SDXL)
    folders = make_folders({f"{family.value}.safetensors": family for family in families})
    files = {family: _save_parts(folders, family, f"{family.value}.safetensors") for family in families}
    return Executor(folders), files


def _prompt(ckpt: str) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=2, seed=3)
    return prompt


def _latent(executor: Executor, prompt: dict, node: str = "3") -> torch.Tensor:
    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    value = executor.cache.get(keys[node]).outputs[0]
    return value["samples"] if isinstance(value, dict) else value


def _from_parts(family: ModelFamily, files: dict, clip_node: dict) -> dict:
    prompt = _prompt(f"{family.value}.safetensors")
    prompt["4"] = {"class_type": "UNETLoader", "inputs": {"unet_name": files["unet"], "weight_dtype": "default"}}
    prompt["40"] = clip_node
    prompt["41"] = {"class_type": "VAELoader", "inputs": {"vae_name": files["vae"]}}
    for node in ("6", "7"):
        prompt[node]["inputs"]["clip"] = ["40", 0]
    prompt["8"]["inputs"]["vae"] = ["41", 0]
    return prompt


def test_unet_and_clip_loaders_match_the_checkpoint(setup):
    executor, files = setup
    sd1 = files[ModelFamily.SD1]
    reference = _latent(executor, _prompt("sd1.safetensors"))
    clip = {"class_type": "CLIPLoader", "inputs": {"clip_name": sd1["l"], "type": "stable_diffusion"}}
    assert torch.equal(_latent(executor, _from_parts(ModelFamily.SD1, sd1, clip)), reference)


def test_unet_loader_tells_sd2_from_sd1(setup):
    """(The text encoder stays the checkpoint's: a tiny OpenCLIP-H is not 1024 wide, which is
    how a real one is told from CLIP-L.)"""
    executor, files = setup
    reference = _latent(executor, _prompt("sd2.safetensors"))
    prompt = _prompt("sd2.safetensors")
    prompt["40"] = {"class_type": "UNETLoader", "inputs": {"unet_name": files[ModelFamily.SD2]["unet"],
                                                          "weight_dtype": "default"}}
    prompt["3"]["inputs"]["model"] = ["40", 0]
    assert torch.equal(_latent(executor, prompt), reference)


@pytest.mark.parametrize("swapped", [False, True])
def test_dual_clip_loader_gives_sdxl_its_pair(setup, swapped):
    executor, files = setup
    sdxl = files[ModelFamily.SDXL]
    reference = _latent(executor, _prompt("sdxl.safetensors"))
    names = [sdxl["l"], sdxl["g"]][::-1 if swapped else 1]
    clip = {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": names[0], "clip_name2": names[1],
                                                       "type": "sdxl"}}
    if swapped:  # the tiny encoders are equally wide: the order given decides, so only check it loads
        assert _latent(executor, _from_parts(ModelFamily.SDXL, sdxl, clip)).shape == reference.shape
    else:
        assert torch.equal(_latent(executor, _from_parts(ModelFamily.SDXL, sdxl, clip)), reference)


def test_clip_loader_refuses_other_families(setup):
    executor, files = setup
    clip = {"class_type": "CLIPLoader", "inputs": {"clip_name": files[ModelFamily.SD1]["l"], "type": "sd3"}}
    result = executor.run(_from_parts(ModelFamily.SD1, files[ModelFamily.SD1], clip))
    assert result.status == "error" and "other model families" in json.dumps(result.error)


def test_checkpoint_loader_reads_its_config(setup):
    executor, _ = setup
    configs = executor.folders.models / "configs"
    configs.mkdir(exist_ok=True)
    (configs / "v-skip2.yaml").write_text(
        "model:\n  params:\n    parameterization: \"v\"\n    cond_stage_config:\n      params:\n        layer_idx: -2\n")
    (configs / "plain.yaml").write_text("model:\n  params:\n    linear_start: 0.00085\n")
    prompt = _prompt("sd1.safetensors")
    prompt["4"] = {"class_type": "CheckpointLoader", "inputs": {"config_name": "plain.yaml",
                                                                "ckpt_name": "sd1.safetensors"}}
    assert torch.equal(_latent(executor, prompt), _latent(executor, _prompt("sd1.safetensors")))
    prompt["4"]["inputs"]["config_name"] = "v-skip2.yaml"
    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    model, clip, _ = executor.cache.get(keys["4"]).outputs
    assert model.prediction_type == PredictionType.V_PREDICTION and clip.layer_idx == -2


def test_diffusers_loader(setup):
    executor, _ = setup
    folder = executor.folders.models / "diffusers" / "tiny-sd1"
    save_diffusers_folder(build_tiny_diffusers_parts(ModelFamily.SD1, seed=4), folder)
    from nodes.component_loaders import diffusers_folders

    assert diffusers_folders(executor.folders) == ["tiny-sd1"]
    prompt = _prompt("sd1.safetensors")
    prompt["4"] = {"class_type": "DiffusersLoader", "inputs": {"model_path": "tiny-sd1"}}
    assert _latent(executor, prompt).shape == (1, 4, 8, 8)


def test_diff_controlnet_loader_adds_the_model(setup):
    executor, _ = setup
    base = load_checkpoint(executor.folders.models / "checkpoints" / "sd1.safetensors", device=torch.device("cpu"),
                           dtype=torch.float32)
    net = build_tiny_controlnet(base.model.unet)
    full = controlnet_to_original(net, base.model.unet)
    unet = unet_to_original(base.model.unet)
    diff = {}
    for key, value in full.items():
        own = unet.get(UNET_PREFIX + key[len("control_model."):])
        diff[key] = (value - own if own is not None and own.shape == value.shape else value).contiguous()
    diff["difference"] = torch.tensor([])
    (executor.folders.models / "controlnet").mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in full.items()}, str(executor.folders.models / "controlnet" / "full.safetensors"))
    save_file(diff, str(executor.folders.models / "controlnet" / "diff.safetensors"))

    def loaded(node: dict):
        prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd1.safetensors"}},
                  "50": node, "51": {"class_type": "PreviewAny", "inputs": {"source": ["50", 0]}}}
        return _latent(executor, prompt, node="50")

    whole = loaded({"class_type": "ControlNetLoader", "inputs": {"control_net_name": "full.safetensors"}})
    added = loaded({"class_type": "DiffControlNetLoader", "inputs": {"model": ["4", 0],
                                                                     "control_net_name": "diff.safetensors"}})
    for (name, a), (_, b) in zip(whole.module.state_dict().items(), added.module.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    refused = executor.run({"50": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "diff.safetensors"}},
                            "51": {"class_type": "PreviewAny", "inputs": {"source": ["50", 0]}}})
    assert refused.status == "error" and "DiffControlNetLoader" in json.dumps(refused.error)
