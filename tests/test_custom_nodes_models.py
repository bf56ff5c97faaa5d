"""Pack nodes that work on MODEL, CLIP and VAE values (a tiny random-weight SD1 model)."""
from __future__ import annotations

import sys

import pytest
import torch

from diffusion.types import ModelFamily
from executor.run import Executor
from tests.pack_support import load_test_packs

CKPT = "tiny.safetensors"


@pytest.fixture(scope="module")
def env(make_app_dir):
    base = make_app_dir({CKPT: ModelFamily.SD1}, name="packs_models")
    folders, registry, _ = load_test_packs(base, ["studio_v1_pack"])
    return Executor(folders, registry=registry), folders


def base_graph(sampler: dict, model_link=("1", 0)) -> dict:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red circle", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": sampler,
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }
    return graph


def ksampler(model_link=("1", 0)) -> dict:
    return {"class_type": "KSampler", "inputs": {
        "model": list(model_link), "seed": 7, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}


def output_of(executor, graph, node_id: str, slot: int = 0):
    """A node's output after a run, read from the executor's cache."""
    from executor.cache import compute_keys

    plan = executor.plans.get(graph, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys[node_id]).outputs[slot]


def latent_of(executor, graph) -> torch.Tensor:
    result = executor.run(graph)
    assert result.status == "success", result.error
    return output_of(executor, graph, "5")["samples"]


def test_tokens_encode_like_clip_text_encode(env):
    executor, _ = env
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
             "2": {"class_type": "StudioEncodeTokens", "inputs": {"clip": ["1", 1], "text": "a (red:1.2) circle"}},
             "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a (red:1.2) circle"}},
             "4": {"class_type": "StudioConditioningStrength", "inputs": {"conditioning": ["2", 0], "strength": 0.5}},
             "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
             "6": {"class_type": "KSampler", "inputs": {
                 "model": ["1", 0], "seed": 1, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal",
                 "positive": ["4", 0], "negative": ["3", 0], "latent_image": ["5", 0], "denoise": 1.0}},
             "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
             "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}}}
    assert executor.run(graph).status == "success"
    ours, core = output_of(executor, graph, "2"), output_of(executor, graph, "3")
    torch.testing.assert_close(ours[0][0], core[0][0])
    assert output_of(executor, graph, "4")[0][1]["strength"] == 0.5


def test_comfy_sample_and_common_ksampler_match_the_core_sampler(env):
    executor, _ = env
    core = latent_of(executor, base_graph(ksampler()))
    common = latent_of(executor, base_graph({"class_type": "StudioCommonSample", "inputs": {
        "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent": ["4", 0], "seed": 7}}))
    torch.testing.assert_close(common, core)
    sampled = latent_of(executor, base_graph({"class_type": "StudioSample", "inputs": {
        "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent": ["4", 0], "seed": 7, "steps": 4}}))
    torch.testing.assert_close(sampled, core)


def test_a_cfg_function_set_on_a_clone_is_applied_and_the_original_is_untouched(env):
    executor, _ = env
    calls = sys.modules["custom_nodes.studio_v1_pack.studio_v1.basic"].CALLS
    calls.pop("cfg_function", None)
    plain = latent_of(executor, base_graph(ksampler()))
    graph = base_graph(ksampler(("9", 0)))
    graph["9"] = {"class_type": "StudioRescaleCFG", "inputs": {"model": ["1", 0], "multiplier": 1.0}}
    patched = latent_of(executor, graph)
    assert calls["cfg_function"] == 4  # once per step
    assert not torch.allclose(patched, plain)
    again = base_graph(ksampler())
    again["5"]["inputs"]["seed"] = 8  # a fresh run of the unpatched model
    calls.pop("cfg_function")
    latent_of(executor, again)
    assert "cfg_function" not in calls


def test_patches_this_sampler_cannot_apply_are_named(env):
    executor, _ = env
    graph = base_graph(ksampler(("9", 0)))
    graph["9"] = {"class_type": "StudioAttentionPatch", "inputs": {"model": ["1", 0]}}
    result = executor.run(graph)
    assert result.status == "error" and result.error["node_id"] == "5"
    assert "attn1_patch" in result.error["exception_message"]


def test_merging_through_key_patches(env):
    executor, _ = env
    plain = latent_of(executor, base_graph(ksampler()))
    graph = base_graph(ksampler(("9", 0)))
    graph["9"] = {"class_type": "StudioMergeSelf", "inputs": {"model1": ["1", 0], "model2": ["1", 0], "ratio": 0.3}}
    torch.testing.assert_close(latent_of(executor, graph), plain, atol=1e-4, rtol=1e-4)


def test_core_nodes_called_the_v1_way_and_a_preview_subclass(env):
    executor, folders = env
    graph = base_graph(ksampler())
    graph["6"] = {"class_type": "StudioDecodeAndInvert", "inputs": {"vae": ["1", 2], "samples": ["5", 0]}}
    graph["7"] = {"class_type": "StudioPreview", "inputs": {"images": ["6", 0]}}
    result = executor.run(graph)
    assert result.status == "success", result.error
    record = result.outputs["7"]["images"][0]
    assert record["type"] == "temp" and (folders.temp / record["subfolder"] / record["filename"]).is_file()
    from PIL import Image

    with Image.open(folders.temp / record["subfolder"] / record["filename"]) as picture:
        assert picture.size == (32, 32) and "prompt" in picture.text
