"""Model / CLIP merging as patches, and the model-saving nodes (checkpoint, UNet, CLIP, VAE,
extracted LoRA) on tiny random-weight models."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from diffusion.export import unet_to_original
from diffusion.loader import load_checkpoint, load_vae
from diffusion.lora_extract import extract_lora
from diffusion.patching import WeightPatch
from diffusion.types import ModelFamily
from executor.run import Executor
from nodes.context import NodeContext
from nodes.folders import Folders
from nodes.loaders import CheckpointLoaderSimple, LoraLoader
from nodes.model_merging import (
    CLIPMergeAdd, CLIPMergeSimple, CLIPMergeSubtract, ModelMergeAdd, ModelMergeBlocks, ModelMergeSimple,
    ModelMergeSubtract,
)
from nodes.model_saving import CheckpointSave, CLIPSave, LoraSave, ModelSave, VAESave
from tests.tiny_models import write_tiny_checkpoint

CPU = torch.device("cpu")
WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
PROMPT = {"1": {"class_type": "CheckpointSave", "inputs": {}}}
EXTRA = {"workflow": {"nodes": [], "links": []}}


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    return make_folders({"a.safetensors": {"family": ModelFamily.SD1, "seed": 0},
                         "b.safetensors": {"family": ModelFamily.SD1, "seed": 1}}, dirs=["loras"])


def _load(folders: Folders, name: str):
    return load_checkpoint(folders.models / "checkpoints" / name, device=CPU, dtype=torch.float32)


@pytest.fixture(scope="module")
def a(folders):
    return _load(folders, "a.safetensors")


@pytest.fixture(scope="module")
def b(folders):
    return _load(folders, "b.safetensors")


def _ctx(folders: Folders) -> NodeContext:
    return NodeContext(folders=folders, prompt=PROMPT, extra_pnginfo=EXTRA)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _unet_now(model) -> dict[str, torch.Tensor]:
    """The UNet's weights as `model` computes them."""
    with model.patched():
        return _snapshot(model.unet)


def _clip_now(clip) -> dict[tuple[str, str], torch.Tensor]:
    from diffusion.checkpoint_save import weights_applied

    with weights_applied(clip=clip):
        return {(s.name, k): v.detach().clone() for s in clip.encoders for k, v in s.model.state_dict().items()}


def _assert_same(got: dict, want: dict, atol: float = 0.0) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if atol == 0.0:
            assert torch.equal(got[key], value), key
        else:
            torch.testing.assert_close(got[key], value, atol=atol, rtol=0, msg=str(key))


def _merge(node, **inputs):
    return node().execute(None, **inputs)[0]


# ----------------------------------------------------------------------------- merging


def test_simple_merge_endpoints_are_exact_and_half_is_the_mean(a, b):
    base_a, base_b = _snapshot(a.model.unet), _snapshot(b.model.unet)
    pointers = {k: v.data_ptr() for k, v in a.model.unet.state_dict().items()}
    _assert_same(_unet_now(_merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=1.0)), base_a)
    _assert_same(_unet_now(_merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=0.0)), base_b)
    mean = {k: (base_a[k] + base_b[k]) / 2 for k in base_a}
    _assert_same(_unet_now(_merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=0.5)), mean)
    quarter = _unet_now(_merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=0.25))
    _assert_same(quarter, {k: 0.25 * base_a[k] + 0.75 * base_b[k] for k in base_a}, atol=1e-7)
    # the inputs were neither changed nor copied
    _assert_same(_snapshot(a.model.unet), base_a)
    _assert_same(_snapshot(b.model.unet), base_b)
    assert {k: v.data_ptr() for k, v in a.model.unet.state_dict().items()} == pointers
    assert a.model.patches == () and b.model.patches == ()


def test_subtract_then_add_round_trips(a, b):
    base_a, base_b = _snapshot(a.model.unet), _snapshot(b.model.unet)
    diff = _merge(ModelMergeSubtract, model1=a.model, model2=b.model, multiplier=1.0)
    _assert_same(_unet_now(diff), {k: base_a[k] - base_b[k] for k in base_a}, atol=1e-7)
    back = _merge(ModelMergeAdd, model1=b.model, model2=diff)  # diff's own patches count
    _assert_same(_unet_now(back), base_a, atol=1e-6)
    half = _merge(ModelMergeAdd, model1=b.model,
                  model2=_merge(ModelMergeSubtract, model1=a.model, model2=b.model, multiplier=0.5))
    _assert_same(_unet_now(half), {k: (base_a[k] + base_b[k]) / 2 for k in base_a}, atol=1e-6)


def test_merging_a_patched_model_merges_what_it_computes(a, b):
    target = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    gen = torch.Generator().manual_seed(3)
    lora = WeightPatch("unet", target, torch.randn(32, 2, generator=gen), torch.randn(2, 32, generator=gen), 1.0, 1.0)
    lora_b = b.model.with_patches([lora])
    merged = _unet_now(_merge(ModelMergeSimple, model1=a.model, model2=lora_b, ratio=0.0))
    _assert_same(merged, _unet_now(lora_b))


def test_block_merge_picks_the_ratio_by_original_layout_name(a, b):
    base_a, base_b = _snapshot(a.model.unet), _snapshot(b.model.unet)
    merged = _unet_now(_merge(ModelMergeBlocks, model1=a.model, model2=b.model, input=1.0, middle=0.0, out=0.5))
    for key, value in merged.items():
        if key.startswith(("down_blocks.", "conv_in.", "time_embedding.")):  # input_blocks, or no block: input
            assert torch.equal(value, base_a[key]), key
        elif key.startswith("mid_block."):
            assert torch.equal(value, base_b[key]), key
        else:  # output_blocks and out.*
            assert key.startswith(("up_blocks.", "conv_norm_out.", "conv_out.")), key
            assert torch.equal(value, (base_a[key] + base_b[key]) / 2), key


def test_family_block_merge_has_one_ratio_per_block(a, b):
    from nodes.model_merging_blocks import ModelMergeSD1

    names = [spec.name for spec in ModelMergeSD1.INPUTS]
    assert names[:4] == ["model1", "model2", "time_embed.", "label_emb."] and names[-1] == "out."
    assert len(names) == 2 + 2 + 12 + 3 + 12 + 1
    base_a, base_b = _snapshot(a.model.unet), _snapshot(b.model.unet)
    ratios = {name: 1.0 for name in names[2:]}
    _assert_same(_unet_now(_merge(ModelMergeSD1, model1=a.model, model2=b.model, **ratios)), base_a)
    ratios["middle_block.1."] = 0.0  # the middle block's transformer takes model2's weights
    merged = _unet_now(_merge(ModelMergeSD1, model1=a.model, model2=b.model, **ratios))
    for key, value in merged.items():
        want = base_b if key.startswith("mid_block.attentions.") else base_a
        assert torch.equal(value, want[key]), key


def test_clip_merges(a, b):
    base_a, base_b = _clip_now(a.clip), _clip_now(b.clip)
    _assert_same(_clip_now(_merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=1.0)), base_a)
    _assert_same(_clip_now(_merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=0.0)), base_b)
    _assert_same(_clip_now(_merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=0.5)),
                 {k: (base_a[k] + base_b[k]) / 2 for k in base_a})
    diff = _merge(CLIPMergeSubtract, clip1=a.clip, clip2=b.clip, multiplier=1.0)
    _assert_same(_clip_now(_merge(CLIPMergeAdd, clip1=b.clip, clip2=diff)), base_a, atol=1e-6)
    plain, _ = a.clip.encode_text("a red circle")
    same, _ = _merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=1.0).encode_text("a red circle")
    assert torch.equal(same, plain)
    other, _ = _merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=0.0).encode_text("a red circle")
    torch.testing.assert_close(other, b.clip.encode_text("a red circle")[0], atol=1e-6, rtol=0)
    _assert_same(_clip_now(a.clip), base_a)


def _txt2img(merge_ratio=None) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "a.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=3, seed=5)
    if merge_ratio is not None:
        prompt["40"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}}
        prompt["41"] = {"class_type": "ModelMergeSimple",
                        "inputs": {"model1": ["4", 0], "model2": ["40", 0], "ratio": merge_ratio}}
        prompt["3"]["inputs"]["model"] = ["41", 0]
    return prompt


def _latent(executor: Executor, prompt: dict) -> torch.Tensor:
    result = executor.run(prompt)
    assert result.status == "success", result.error
    from executor.cache import compute_keys

    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys["3"]).outputs[0]["samples"], executor.cache.get(keys["4"]).outputs[0]


def test_sampling_a_merge_leaves_the_base_untouched(folders):
    executor = Executor(folders)
    plain, model = _latent(executor, _txt2img())
    before = _snapshot(model.unet)
    same, _ = _latent(executor, _txt2img(merge_ratio=1.0))
    assert torch.equal(same, plain)
    merged, _ = _latent(executor, _txt2img(merge_ratio=0.5))
    assert not torch.allclose(merged, plain)
    _assert_same(_snapshot(model.unet), before)
    again, _ = _latent(executor, _txt2img())
    assert torch.equal(again, plain)


# ----------------------------------------------------------------------------- saving


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checkpoint_save_loads_back_identically_and_never_overwrites(folders, a, b):
    model = _merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=0.3)
    clip = _merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=0.6)
    CheckpointSave().execute(_ctx(folders), model=model, clip=clip, vae=a.vae, filename_prefix="checkpoints/merged")
    first = folders.output / "checkpoints" / "merged_00001_.safetensors"
    assert first.is_file()
    with safe_open(str(first), "pt") as handle:
        metadata = handle.metadata()
        keys = set(handle.keys())
    assert json.loads(metadata["prompt"]) == PROMPT and json.loads(metadata["workflow"]) == EXTRA["workflow"]
    assert metadata["modelspec.predict_key"] == "epsilon"
    assert any(k.startswith("model.diffusion_model.input_blocks.") for k in keys)
    assert any(k.startswith("cond_stage_model.transformer.text_model.") for k in keys)
    assert any(k.startswith("first_stage_model.encoder.") for k in keys)

    loaded = load_checkpoint(first, device=CPU, dtype=torch.float32)
    _assert_same(_snapshot(loaded.model.unet), _unet_now(model))
    _assert_same(_clip_now(loaded.clip), _clip_now(clip))
    _assert_same(_snapshot(loaded.vae.vae), _snapshot(a.vae.vae))

    digest = _digest(first)
    CheckpointSave().execute(_ctx(folders), model=a.model, clip=a.clip, vae=a.vae, filename_prefix="checkpoints/merged")
    second = folders.output / "checkpoints" / "merged_00002_.safetensors"
    assert second.is_file() and _digest(first) == digest
    assert not list((folders.output / "checkpoints").glob(".*"))  # no partial files left behind

    folders.add_model_dir("checkpoints", folders.output / "checkpoints")
    node_model, _, _ = CheckpointLoaderSimple().execute(_ctx(folders), ckpt_name="merged_00002_.safetensors")
    _assert_same(_snapshot(node_model.unet), _snapshot(a.model.unet))


def test_default_prefix_and_file_names(folders, a):
    CheckpointSave().execute(_ctx(folders), model=a.model, clip=a.clip, vae=a.vae,
                             filename_prefix=CheckpointSave.filename_prefix.default)
    assert (folders.output / "checkpoints" / "ComfyUI_00001_.safetensors").is_file()
    with pytest.raises(ValueError):
        CheckpointSave().execute(_ctx(folders), model=a.model, clip=a.clip, vae=a.vae, filename_prefix="../escape")


def test_model_clip_and_vae_save(folders, a, b):
    model = _merge(ModelMergeSimple, model1=a.model, model2=b.model, ratio=0.5)
    ModelSave().execute(_ctx(folders), model=model, filename_prefix="diffusion_models/unet")
    sd = load_file(str(folders.output / "diffusion_models" / "unet_00001_.safetensors"))
    with model.patched():
        want = unet_to_original(model.unet)
    _assert_same(sd, want)

    clip = _merge(CLIPMergeSimple, clip1=a.clip, clip2=b.clip, ratio=0.5)
    CLIPSave().execute(_ctx(folders), clip=clip, filename_prefix="clip/text")
    path = folders.output / "clip" / "text_clip_l_00001_.safetensors"
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["format"] == "pt"
    saved = load_file(str(path))
    assert all(k.startswith("text_model.") for k in saved)
    _assert_same({("l", k[len("text_model."):]): v for k, v in saved.items()}, _clip_now(clip))

    VAESave().execute(_ctx(folders), vae=a.vae, filename_prefix=VAESave.filename_prefix.default)
    path = folders.output / "vae" / "ComfyUI_vae_00001_.safetensors"
    assert "encoder.conv_in.weight" in load_file(str(path))
    _assert_same(_snapshot(load_vae(path, device=CPU, dtype=torch.float32).vae), _snapshot(a.vae.vae))


def test_sdxl_checkpoint_and_clip_save(tmp_path):
    folders = Folders.under(tmp_path)
    xl = load_checkpoint(write_tiny_checkpoint(tmp_path, ModelFamily.SDXL, seed=2), device=CPU, dtype=torch.float32)
    other = load_checkpoint(write_tiny_checkpoint(tmp_path / "b.safetensors", ModelFamily.SDXL, seed=3),
                            device=CPU, dtype=torch.float32)
    model = _merge(ModelMergeSimple, model1=xl.model, model2=other.model, ratio=0.5)
    clip = _merge(CLIPMergeSimple, clip1=xl.clip, clip2=other.clip, ratio=0.5)
    CheckpointSave().execute(_ctx(folders), model=model, clip=clip, vae=xl.vae, filename_prefix="checkpoints/xl")
    path = folders.output / "checkpoints" / "xl_00001_.safetensors"
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base"
    assert metadata["modelspec.title"] == "xl 1"
    loaded = load_checkpoint(path, device=CPU, dtype=torch.float32)
    assert loaded.family == ModelFamily.SDXL
    _assert_same(_snapshot(loaded.model.unet), _unet_now(model))
    _assert_same(_clip_now(loaded.clip), _clip_now(clip))

    CLIPSave().execute(_ctx(folders), clip=clip, filename_prefix="clip/xl")
    names = sorted(p.name for p in (folders.output / "clip").iterdir())
    assert names == ["xl_clip_g_00001_.safetensors", "xl_clip_l_00001_.safetensors"]
    g = load_file(str(folders.output / "clip" / "xl_clip_g_00001_.safetensors"))
    assert "text_projection.weight" in g and "text_model.encoder.layers.0.mlp.fc1.weight" in g


# ----------------------------------------------------------------------------- LoRA extraction


def _extracted(folders: Folders, name: str, **inputs) -> Path:
    LoraSave().execute(_ctx(folders), filename_prefix=f"loras/{name}", **inputs)
    path = folders.output / "loras" / f"{name}_00001_.safetensors"
    shutil.copy(path, folders.models / "loras" / path.name)
    return path


@pytest.mark.parametrize("lora_type", ["standard", "full_diff"])
def test_lora_save_at_full_rank_reproduces_the_difference(folders, a, b, lora_type):
    merged = _merge(ModelMergeSimple, model1=b.model, model2=a.model, ratio=0.5)
    merged_clip = _merge(CLIPMergeSimple, clip1=b.clip, clip2=a.clip, ratio=0.5)
    model_diff = _merge(ModelMergeSubtract, model1=merged, model2=a.model, multiplier=1.0)
    clip_diff = _merge(CLIPMergeSubtract, clip1=merged_clip, clip2=a.clip, multiplier=1.0)
    path = _extracted(folders, f"extract_{lora_type}", rank=4096, lora_type=lora_type, bias_diff=True,
                      model_diff=model_diff, text_encoder_diff=clip_diff)
    keys = set(load_file(str(path)))
    if lora_type == "standard":
        assert "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_up.weight" in keys
        assert "text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.lora_down.weight" in keys
        assert "diffusion_model.input_blocks.1.0.in_layers.0.diff" in keys  # a norm weight
    else:
        assert all(k.endswith((".diff", ".diff_b")) for k in keys)
    assert "diffusion_model.input_blocks.1.0.in_layers.2.diff_b" in keys

    model, clip = LoraLoader().execute(_ctx(folders), model=a.model, clip=a.clip, lora_name=path.name,
                                       strength_model=1.0, strength_clip=1.0)
    assert len(model.patches) >= len(list(a.model.unet.parameters()))
    _assert_same(_unet_now(model), _unet_now(merged), atol=5e-4)  # the file holds fp16, as ComfyUI writes it
    _assert_same(_clip_now(clip), _clip_now(merged_clip), atol=5e-4)


def test_lora_save_without_bias_and_at_low_rank(folders, a, b):
    diff = _merge(ModelMergeSubtract, model1=b.model, model2=a.model, multiplier=1.0)
    path = _extracted(folders, "low_rank", rank=2, lora_type="standard", bias_diff=False, model_diff=diff)
    sd = load_file(str(path))
    assert sd and all(k.endswith((".lora_up.weight", ".lora_down.weight")) for k in sd)
    assert all(k.startswith("diffusion_model.") for k in sd)
    up = sd["diffusion_model.input_blocks.1.0.in_layers.2.lora_up.weight"]
    down = sd["diffusion_model.input_blocks.1.0.in_layers.2.lora_down.weight"]
    assert up.shape == (32, 2, 1, 1) and down.shape == (2, 32, 3, 3) and up.dtype == torch.float16
    LoraSave().execute(_ctx(folders), filename_prefix="loras/nothing", rank=8, lora_type="standard", bias_diff=True)
    assert not list((folders.output / "loras").glob("nothing*"))


def test_extract_lora_is_exact_at_full_rank_and_clamped_below():
    gen = torch.Generator().manual_seed(0)
    diff = torch.randn(6, 3, generator=gen) @ torch.randn(3, 8, generator=gen)
    up, down = extract_lora(diff, 8)
    assert up.shape == (6, 6) and down.shape == (6, 8)
    torch.testing.assert_close(up @ down, diff, atol=1e-5, rtol=0)
    up, down = extract_lora(diff, 3)  # below full rank: factors clamped at the 99th percentile, as ComfyUI
    u, s, vh = torch.linalg.svd(diff)
    raw_up, raw_down = u[:, :3] * s[:3], vh[:3]
    high = torch.quantile(torch.cat([raw_up.flatten(), raw_down.flatten()]), 0.99)
    torch.testing.assert_close(up, raw_up.clamp(-high, high), atol=1e-5, rtol=0)
    torch.testing.assert_close(down, raw_down.clamp(-high, high), atol=1e-5, rtol=0)
    assert not torch.allclose(up, raw_up)
