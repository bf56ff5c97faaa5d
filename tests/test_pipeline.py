"""Text-to-image and img2img through the real executor and core nodes on tiny random checkpoints."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.types import ModelFamily
from executor.run import Executor
from nodes.folders import Folders
from nodes.png_files import read_png_text

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    folders = make_folders({"sd1.safetensors": ModelFamily.SD1,
                            "sd2.safetensors": {"family": ModelFamily.SD2, "v_pred": True},
                            "sdxl.safetensors": ModelFamily.SDXL}, input=True)
    picture = np.full((64, 64, 3), 255, dtype=np.uint8)
    picture[16:48, 16:48] = (220, 30, 30)
    Image.fromarray(picture).save(folders.input / "square.png")
    return folders


def txt2img(ckpt: str = "sd1.safetensors", **sampler) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=4, **sampler)
    return prompt


def img2img(denoise: float) -> dict:
    prompt = json.loads((WORKFLOWS / "img2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["10"]["inputs"]["image"] = "square.png"
    prompt["3"]["inputs"].update(steps=4, denoise=denoise)
    return prompt


def saved_image(folders: Folders, result, node: str = "9") -> np.ndarray:
    record = result.outputs[node]["images"][0]
    return np.asarray(Image.open(folders.output / record["subfolder"] / record["filename"]))


def test_shipped_workflows_validate_against_the_core_nodes(folders):
    executor = Executor(folders)
    for name in ("txt2img.json", "img2img.json"):
        prompt = json.loads((WORKFLOWS / name).read_text())
        prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
        if "10" in prompt:
            prompt["10"]["inputs"]["image"] = "square.png"
        _, checked = executor.validate(prompt)
        assert checked.ok and not checked.node_errors, checked.node_errors
    text = json.loads((WORKFLOWS / "txt2img.json").read_text())
    assert text["6"]["class_type"] == "CLIPTextEncode" and text["3"]["class_type"] == "KSampler"


@pytest.mark.parametrize("ckpt", ["sd1.safetensors", "sd2.safetensors", "sdxl.safetensors"])
def test_text_to_image_writes_png_with_workflow(folders, ckpt):
    executor = Executor(folders)
    prompt = txt2img(ckpt)
    ui = {"nodes": [], "links": [], "version": 0.4}
    result = executor.run(prompt, extra_data={"extra_pnginfo": {"workflow": ui}})
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    path = folders.output / record["subfolder"] / record["filename"]
    assert Image.open(path).size == (64, 64)
    chunks = read_png_text(path)
    assert json.loads(chunks["prompt"]) == prompt
    assert json.loads(chunks["workflow"]) == ui


def test_fixed_seed_is_deterministic_and_seeds_differ(folders):
    first = saved_image(folders, Executor(folders).run(txt2img(seed=7)))
    again = saved_image(folders, Executor(folders).run(txt2img(seed=7)))  # fresh cache
    other = saved_image(folders, Executor(folders).run(txt2img(seed=8)))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("sampler,scheduler", [("euler_ancestral", "karras"), ("dpmpp_2m_sde", "exponential"),
                                               ("uni_pc", "sgm_uniform"), ("lcm", "simple"), ("ddim", "ddim_uniform")])
def test_samplers_run_through_the_node(folders, sampler, scheduler):
    executor = Executor(folders)
    a = saved_image(folders, executor.run(txt2img(seed=3, sampler_name=sampler, scheduler=scheduler)))
    executor.cache.clear()
    b = saved_image(folders, executor.run(txt2img(seed=3, sampler_name=sampler, scheduler=scheduler)))
    assert np.array_equal(a, b)


def test_changing_the_seed_reruns_only_the_sampler_and_downstream(folders):
    executor = Executor(folders)
    executor.run(txt2img(seed=1))
    result = executor.run(txt2img(seed=2))
    assert sorted(result.executed) == ["3", "8", "9"]
    assert sorted(result.cached) == ["4", "5", "6", "7"]
    identical = executor.run(txt2img(seed=2))
    assert identical.executed == []


def test_img2img_denoise_zero_returns_the_input_latent(folders):
    executor = Executor(folders)
    prompt = img2img(denoise=0.0)
    prompt["12"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["3", 0],
                                                                "upscale_method": "nearest-exact", "scale_by": 1.0}}
    assert executor.run(prompt).status == "success"
    encoded = executor.cache.get(_key_of(executor, prompt, "11")).outputs[0]["samples"]
    sampled = executor.cache.get(_key_of(executor, prompt, "3")).outputs[0]["samples"]
    assert torch.equal(encoded, sampled)


def test_img2img_partial_denoise_changes_the_latent(folders):
    executor = Executor(folders)
    prompt = img2img(denoise=0.6)
    assert executor.run(prompt).status == "success"
    encoded = executor.cache.get(_key_of(executor, prompt, "11")).outputs[0]["samples"]
    sampled = executor.cache.get(_key_of(executor, prompt, "3")).outputs[0]["samples"]
    assert encoded.shape == sampled.shape and not torch.equal(encoded, sampled)


def _key_of(executor: Executor, prompt: dict, node_id: str) -> str:
    from executor.cache import compute_keys

    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return keys[node_id]


def test_interrupt_mid_sampling_then_run_again(folders):
    executor = Executor(folders)
    prompt = txt2img(seed=11)
    prompt["3"]["inputs"]["steps"] = 10
    steps_seen = []

    def on_event(kind, data):
        if kind == "progress":
            steps_seen.append(data["value"])
            if data["value"] == 3:
                executor.interrupt()

    result = executor.run(prompt, on_event=on_event)
    assert result.status == "interrupted"
    assert result.error["node_id"] == "3"
    assert steps_seen == [1, 2, 3]
    assert "9" not in result.outputs
    again = executor.run(prompt)
    assert again.status == "success"
    assert sorted(again.executed) == ["3", "8", "9"]  # loader and encoders stayed cached


def test_previews_are_emitted_when_asked(folders):
    executor = Executor(folders)
    previews = []
    executor.run(txt2img(seed=5), extra_data={"preview_method": "auto"},
                 on_event=lambda kind, data: previews.append(data["image"]) if kind == "preview" else None)
    assert len(previews) == 4
    assert all(isinstance(p, Image.Image) for p in previews)
    silent = []
    executor.run(txt2img(seed=6), on_event=lambda kind, data: silent.append(kind))
    assert "preview" not in silent


def test_failing_node_reports_structured_error(folders):
    executor = Executor(folders)
    prompt = txt2img()
    prompt["5"]["inputs"].update(width=64, height=64, batch_size=1)
    prompt["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
    (folders.models / "checkpoints" / "broken.safetensors").write_bytes(b"not a checkpoint")
    prompt["4"]["inputs"]["ckpt_name"] = "broken.safetensors"
    result = executor.run(prompt)
    assert result.status == "error"
    assert result.error["node_id"] == "4" and result.error["node_type"] == "CheckpointLoaderSimple"
    assert result.error["exception_message"]
    (folders.models / "checkpoints" / "broken.safetensors").unlink()


def test_long_prompt_and_emphasis_run(folders):
    executor = Executor(folders)
    prompt = txt2img()
    prompt["6"]["inputs"]["text"] = "(a red circle:1.3), " + ", ".join(f"word{i}" for i in range(120))
    assert executor.run(prompt).status == "success"


def test_clip_skip_and_combine_and_advanced_two_stage(folders):
    executor = Executor(folders)
    prompt = txt2img()
    prompt["20"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["4", 1], "stop_at_clip_layer": -2}}
    prompt["6"]["inputs"]["clip"] = ["20", 0]
    prompt["21"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a square", "clip": ["4", 1]}}
    prompt["22"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0],
                                                                    "conditioning_2": ["21", 0]}}
    common = {"model": ["4", 0], "noise_seed": 4, "steps": 6, "cfg": 5.0, "sampler_name": "euler",
              "scheduler": "normal", "positive": ["22", 0], "negative": ["7", 0]}
    prompt["30"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "add_noise": "enable",
                    "latent_image": ["5", 0], "start_at_step": 0, "end_at_step": 3,
                    "return_with_leftover_noise": "enable"}}
    prompt["31"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "add_noise": "disable",
                    "latent_image": ["30", 0], "start_at_step": 3, "end_at_step": 10000,
                    "return_with_leftover_noise": "disable"}}
    prompt["8"]["inputs"]["samples"] = ["31", 0]
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert {"20", "21", "22", "30", "31"} <= set(result.executed)
    assert "3" not in result.executed  # the plain sampler feeds nothing any more


def test_two_stage_advanced_equals_one_full_run(folders):
    """Splitting the steps across two KSamplerAdvanced nodes gives the same latent as one run."""
    executor = Executor(folders)
    base = txt2img()
    common = {"model": ["4", 0], "noise_seed": 9, "steps": 6, "cfg": 4.0, "sampler_name": "euler",
              "scheduler": "karras", "positive": ["6", 0], "negative": ["7", 0]}
    one = copy.deepcopy(base)
    one["3"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "add_noise": "enable",
                "latent_image": ["5", 0], "start_at_step": 0, "end_at_step": 10000,
                "return_with_leftover_noise": "disable"}}
    two = copy.deepcopy(base)
    two["30"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "add_noise": "enable",
                 "latent_image": ["5", 0], "start_at_step": 0, "end_at_step": 2,
                 "return_with_leftover_noise": "enable"}}
    two["3"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "add_noise": "disable",
                "latent_image": ["30", 0], "start_at_step": 2, "end_at_step": 10000,
                "return_with_leftover_noise": "disable"}}
    assert executor.run(one).status == "success"
    full = executor.cache.get(_key_of(executor, one, "3")).outputs[0]["samples"]
    assert executor.run(two).status == "success"
    split = executor.cache.get(_key_of(executor, two, "3")).outputs[0]["samples"]
    assert torch.allclose(full, split, atol=1e-5)
