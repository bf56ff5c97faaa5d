"""LoRA (kohya and diffusers/PEFT layouts) and textual-inversion embeddings on tiny models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusion.loader import load_checkpoint
from diffusion.lora import resolve_lora
from diffusion.types import ModelFamily
from executor.run import Executor
from nodes.folders import Folders
from tests.tiny_models import write_tiny_checkpoint

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
CPU = torch.device("cpu")

# (kohya name in the original layout, the same module in diffusers naming, out, in, kernel)
KOHYA_UNET = [
    ("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q",
     "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", 32, 32, None),
    ("lora_unet_middle_block_1_transformer_blocks_0_attn2_to_out_0",
     "mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0.weight", 64, 64, None),
    ("lora_unet_input_blocks_1_0_in_layers_2", "down_blocks.0.resnets.0.conv1.weight", 32, 32, 3),
    ("lora_unet_output_blocks_2_1_proj_in", "up_blocks.1.attentions.0.proj_in.weight", 32, 32, 1),
]
KOHYA_TEXT = [("lora_te_text_model_encoder_layers_0_self_attn_q_proj", "encoder.layers.0.self_attn.q_proj.weight",
               32, 32)]


def _pair(out_dim: int, in_dim: int, rank: int, gen: torch.Generator, kernel=None):
    if kernel is None:
        return torch.randn(out_dim, rank, generator=gen) * 0.5, torch.randn(rank, in_dim, generator=gen) * 0.5
    up = torch.randn(out_dim, rank, 1, 1, generator=gen) * 0.5
    return up, torch.randn(rank, in_dim, kernel, kernel, generator=gen) * 0.5


def kohya_lora(seed: int = 0, rank: int = 4, alpha: float = 2.0) -> tuple[dict, dict]:
    """A kohya file and, per diffusers parameter, the expected delta at strength 1."""
    gen = torch.Generator().manual_seed(seed)
    sd, expected = {}, {}
    for name, target, out_dim, in_dim, kernel in KOHYA_UNET:
        up, down = _pair(out_dim, in_dim, rank, gen, kernel)
        sd[f"{name}.lora_up.weight"], sd[f"{name}.lora_down.weight"] = up, down
        sd[f"{name}.alpha"] = torch.tensor(alpha)
        expected[("unet", target)] = (up.flatten(1) @ down.flatten(1)) * (alpha / rank)
    for name, target, out_dim, in_dim in KOHYA_TEXT:
        up, down = _pair(out_dim, in_dim, rank, gen)
        sd[f"{name}.lora_up.weight"], sd[f"{name}.lora_down.weight"] = up, down
        sd[f"{name}.alpha"] = torch.tensor(alpha)
        expected[("l", target)] = up @ down * (alpha / rank)
    return sd, expected


def peft_lora(seed: int = 1, rank: int = 2) -> tuple[dict, dict]:
    """Diffusers/PEFT naming: lora_A/lora_B and .lora.down/.lora.up, no alpha (scale 1)."""
    gen = torch.Generator().manual_seed(seed)
    sd, expected = {}, {}
    module = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    up, down = _pair(32, 32, rank, gen)
    sd[f"unet.{module}.lora_A.weight"], sd[f"unet.{module}.lora_B.weight"] = down, up
    expected[("unet", module + ".weight")] = up @ down
    module = "up_blocks.1.attentions.0.transformer_blocks.0.ff.net.2"
    up, down = _pair(32, 128, rank, gen)
    sd[f"unet.{module}.lora.down.weight"], sd[f"unet.{module}.lora.up.weight"] = down, up
    expected[("unet", module + ".weight")] = up @ down
    module = "text_model.encoder.layers.1.mlp.fc1"
    up, down = _pair(128, 32, rank, gen)
    sd[f"text_encoder.{module}.lora_A.weight"], sd[f"text_encoder.{module}.lora_B.weight"] = down, up
    expected[("l", "encoder.layers.1.mlp.fc1.weight")] = up @ down
    return sd, expected


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    folders = make_folders({"sd1.safetensors": ModelFamily.SD1}, dirs=["loras", "embeddings"])
    save_file(kohya_lora()[0], str(folders.models / "loras" / "kohya.safetensors"))
    save_file(peft_lora()[0], str(folders.models / "loras" / "peft.safetensors"))
    return folders  # `parts` (its sd1.safetensors, loaded) comes from tests/conftest.py


@pytest.mark.parametrize("make", [kohya_lora, peft_lora])
def test_both_layouts_patch_exactly_the_named_weights(parts, make):
    sd, expected = make()
    found = resolve_lora(sd, parts.model, parts.clip, 0.7, 1.3)
    assert not found.unmatched
    assert {("unet", p.target) for p in found.model} | {("l", p.target) for p in found.clip} == set(expected)
    unet_params = dict(parts.model.unet.named_parameters())
    before = {k: v.detach().clone() for k, v in unet_params.items()}
    patched_model = parts.model.with_patches(found.model)
    with patched_model.patched():
        for (component, target), delta in expected.items():
            if component == "unet":
                now = unet_params[target]
                torch.testing.assert_close(now, before[target] + 0.7 * delta.reshape(now.shape), atol=1e-5, rtol=0)
        untouched = next(k for k in unet_params if k.endswith("conv_in.weight"))
        assert torch.equal(unet_params[untouched], before[untouched])
    for name, param in unet_params.items():  # restored exactly, and never copied
        assert torch.equal(param, before[name]), name
    assert parts.model.patches == ()


def _txt2img(lora: list[tuple[str, float, float]] | None = None, seed: int = 3) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=3, seed=seed)
    model, clip = ["4", 0], ["4", 1]
    for i, (name, sm, sc) in enumerate(lora or []):
        node = str(40 + i)
        prompt[node] = {"class_type": "LoraLoader", "inputs": {"model": model, "clip": clip, "lora_name": name,
                                                               "strength_model": sm, "strength_clip": sc}}
        model, clip = [node, 0], [node, 1]
    prompt["3"]["inputs"]["model"] = model
    prompt["6"]["inputs"]["clip"] = clip
    prompt["7"]["inputs"]["clip"] = clip
    return prompt


def _output(executor: Executor, prompt: dict, node: str, slot: int = 0):
    from executor.cache import compute_keys

    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys[node]).outputs[slot]


def _latent(executor: Executor, prompt: dict) -> torch.Tensor:
    result = executor.run(prompt)
    assert result.status == "success", result.error
    return _output(executor, prompt, "3")["samples"]


def test_strength_zero_and_removal_are_bit_identical(folders):
    executor = Executor(folders)
    base = _latent(executor, _txt2img())
    model = _output(executor, _txt2img(), "4")
    weights = {k: v.detach().clone() for k, v in model.unet.state_dict().items()}
    assert torch.equal(_latent(executor, _txt2img([("kohya.safetensors", 0.0, 0.0)])), base)
    with_lora = _latent(executor, _txt2img([("kohya.safetensors", 1.0, 1.0)]))
    assert not torch.equal(with_lora, base)
    chained = _latent(executor, _txt2img([("kohya.safetensors", 1.0, 1.0), ("peft.safetensors", 0.8, 0.5)]))
    assert not torch.equal(chained, with_lora)
    again = Executor(folders)  # a fresh cache: the checkpoint is loaded anew
    assert torch.equal(_latent(again, _txt2img([("kohya.safetensors", 1.0, 1.0)])), with_lora)
    assert torch.equal(_latent(again, _txt2img()), base)  # LoRA removed: base output exactly
    # and the cached base model's weights were never written to
    assert all(torch.equal(v, weights[k]) for k, v in model.unet.state_dict().items())


def test_lora_changes_clip_only_with_clip_strength(parts):
    sd, _ = kohya_lora()
    plain, _ = parts.clip.encode_text("a red circle")
    only_model = resolve_lora(sd, parts.model, parts.clip, 1.0, 0.0)
    assert only_model.clip == [] and only_model.model
    with_text = parts.clip.with_patches(resolve_lora(sd, parts.model, parts.clip, 1.0, 1.0).clip)
    changed, _ = with_text.encode_text("a red circle")
    assert not torch.equal(changed, plain)
    assert torch.equal(parts.clip.encode_text("a red circle")[0], plain)


# ----------------------------------------------------------------------------- embeddings


def _token_rows(clip, words: str) -> torch.Tensor:
    from diffusion.tokenizer import load_clip_tokenizer

    ids = load_clip_tokenizer()(words.split(), add_special_tokens=False)["input_ids"]
    flat = [t for word in ids for t in word]
    return clip.encoders[0].model.get_input_embeddings().weight[flat].detach().clone()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_embedding_equals_the_words_whose_vectors_it_holds(folders, parts, suffix):
    from diffusion.embeddings import EmbeddingFolder

    vectors = _token_rows(parts.clip, "red circle")
    path = folders.models / "embeddings" / f"redcircle{suffix}"
    if suffix == ".safetensors":
        save_file({"emb_params": vectors}, str(path))
    else:  # A1111's layout, read with weights_only
        torch.save({"string_to_param": {"*": vectors}, "name": "redcircle", "step": 100}, str(path))
    lookup = EmbeddingFolder(folders.model_dirs("embeddings"))
    want, _ = parts.clip.encode_text("a red circle, blue")
    got, _ = parts.clip.encode_text("a embedding:redcircle, blue", lookup)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    weighted, _ = parts.clip.encode_text("a (embedding:redcircle:1.3) blue", lookup)
    torch.testing.assert_close(weighted, parts.clip.encode_text("a (red circle:1.3) blue")[0], atol=1e-6, rtol=0)
    assert not torch.allclose(got, parts.clip.encode_text("a blue")[0])
    missing, _ = parts.clip.encode_text("a embedding:nothing blue", lookup)
    assert torch.equal(missing, parts.clip.encode_text("a embedding:nothing blue")[0])
    path.unlink()


def test_embedding_through_the_node(folders, parts):
    vectors = _token_rows(parts.clip, "green star")
    save_file({"emb_params": vectors}, str(folders.models / "embeddings" / "gs.safetensors"))
    executor = Executor(folders)
    prompt = _txt2img()
    prompt["6"]["inputs"]["text"] = "embedding:gs"
    with_embedding = _latent(executor, prompt)
    prompt["6"]["inputs"]["text"] = "green star"
    torch.testing.assert_close(_latent(executor, prompt), with_embedding, atol=1e-4, rtol=0)


def test_sdxl_kohya_names_and_two_encoder_embedding(tmp_path):
    from diffusion.embeddings import EmbeddingFolder

    path = write_tiny_checkpoint(tmp_path, ModelFamily.SDXL)
    xl = load_checkpoint(path, device=CPU, dtype=torch.float32)
    gen = torch.Generator().manual_seed(5)
    sd = {}
    # SDXL tiny (one layer per level): input_blocks.3 is the second level's resnet + transformer
    entries = {"lora_unet_input_blocks_3_1_transformer_blocks_1_attn2_to_k": (64, 96),
               "lora_te1_text_model_encoder_layers_0_mlp_fc2": (32, 128),
               "lora_te2_text_model_encoder_layers_0_self_attn_out_proj": (64, 64)}
    for name, (out_dim, in_dim) in entries.items():
        sd[f"{name}.lora_up.weight"] = torch.randn(out_dim, 2, generator=gen)
        sd[f"{name}.lora_down.weight"] = torch.randn(2, in_dim, generator=gen)
    found = resolve_lora(sd, xl.model, xl.clip, 1.0, 1.0)
    assert not found.unmatched
    assert [p.target for p in found.model] == ["down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight"]
    assert sorted((p.component, p.target) for p in found.clip) == [
        ("g", "text_model.encoder.layers.0.self_attn.out_proj.weight"), ("l", "encoder.layers.0.mlp.fc2.weight")]
    plain, plain_pooled = xl.clip.encode_text("a red circle")
    changed, changed_pooled = xl.clip.with_patches(found.clip).encode_text("a red circle")
    assert not torch.allclose(changed[..., :32], plain[..., :32])  # CLIP-L's part
    assert not torch.allclose(changed[..., 32:], plain[..., 32:])  # OpenCLIP-G's part
    assert not torch.allclose(changed_pooled, plain_pooled)

    rows = {name: spec.model.get_input_embeddings().weight for name, spec in
            zip(("clip_l", "clip_g"), xl.clip.encoders)}
    from diffusion.tokenizer import load_clip_tokenizer

    ids = [t for word in load_clip_tokenizer()(["red", "circle"], add_special_tokens=False)["input_ids"] for t in word]
    (tmp_path / "emb").mkdir()
    save_file({k: v[ids].detach().clone() for k, v in rows.items()}, str(tmp_path / "emb" / "rc.safetensors"))
    got, got_pooled = xl.clip.encode_text("a embedding:rc", EmbeddingFolder([tmp_path / "emb"]))
    torch.testing.assert_close(got, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_pooled, plain_pooled, atol=1e-6, rtol=0)
