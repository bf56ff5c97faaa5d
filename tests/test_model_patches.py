"""Model patch nodes (guidance hooks, FreeU, Differential Diffusion, TorchCompileModel) and
SDXL's text encode nodes, run through KSampler on tiny models: settings that should change
nothing change nothing, the others change the image, and the shared UNet is left as it was."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from diffusion.types import ModelFamily
from executor.cache import compute_keys
from executor.run import Executor
from nodes.folders import Folders
from tests.tiny_models import write_tiny_checkpoint

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    """Tiny SD1 and SDXL checkpoints; `executor` (tests/conftest.py) runs on these folders."""
    return make_folders({"sd1.safetensors": ModelFamily.SD1, "sdxl.safetensors": ModelFamily.SDXL})


def _prompt(patch: dict | None = None, ckpt: str = "sd1.safetensors", steps: int = 3) -> dict:
    """txt2img at 64x64 with `patch` (class_type + inputs) between the loader and KSampler."""
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=steps, seed=11, cfg=5.0)
    prompt["7"]["inputs"]["text"] = "a green square"
    if patch is not None:
        prompt["30"] = {"class_type": patch["class_type"], "inputs": {"model": ["4", 0], **patch["inputs"]}}
        prompt["3"]["inputs"]["model"] = ["30", 0]
    return prompt


def _value(executor: Executor, prompt: dict, node: str = "3", slot: int = 0):
    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys[node]).outputs[slot]


def _latent(executor: Executor, prompt: dict) -> torch.Tensor:
    return _value(executor, prompt)["samples"]


@pytest.fixture(scope="module")
def plain(executor) -> torch.Tensor:
    return _latent(executor, _prompt())


@pytest.mark.parametrize("patch", [
    {"class_type": "Epsilon Scaling", "inputs": {"scaling_factor": 1.0}},
    {"class_type": "RescaleCFG", "inputs": {"multiplier": 0.0}},
    {"class_type": "FreSca", "inputs": {"scale_low": 1.0, "scale_high": 1.0, "freq_cutoff": 20}},
    {"class_type": "FreeU", "inputs": {"b1": 1.0, "b2": 1.0, "s1": 1.0, "s2": 1.0}},
    {"class_type": "FreeU_V2", "inputs": {"b1": 1.0, "b2": 1.0, "s1": 1.0, "s2": 1.0}},
], ids=lambda p: p["class_type"])
def test_neutral_settings_change_nothing(executor, plain, patch):
    assert torch.allclose(_latent(executor, _prompt(patch)), plain, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("patch", [
    {"class_type": "Epsilon Scaling", "inputs": {"scaling_factor": 1.05}},
    {"class_type": "RescaleCFG", "inputs": {"multiplier": 0.7}},
    {"class_type": "CFGZeroStar", "inputs": {}},
    {"class_type": "CFGNorm", "inputs": {"strength": 0.9}},
    {"class_type": "Mahiro", "inputs": {}},
    {"class_type": "APG", "inputs": {"eta": 0.5, "norm_threshold": 1.0, "momentum": 0.3}},
    {"class_type": "TCFG", "inputs": {}},
    {"class_type": "FreSca", "inputs": {"scale_low": 1.0, "scale_high": 1.5, "freq_cutoff": 2}},
    {"class_type": "FreeU", "inputs": {"b1": 1.3, "b2": 1.4, "s1": 0.5, "s2": 0.5}},
    {"class_type": "FreeU_V2", "inputs": {"b1": 1.3, "b2": 1.4, "s1": 0.5, "s2": 0.5}},
], ids=lambda p: p["class_type"])
def test_patches_change_the_image_and_leave_the_model_alone(executor, plain, patch):
    patched = _latent(executor, _prompt(patch))
    assert torch.isfinite(patched).all()
    assert not torch.allclose(patched, plain, atol=1e-4)
    # The loader's MODEL value carries no hook and its UNet no patch afterwards.
    model = _value(executor, _prompt(), node="4")
    assert not any(model.model_options.get(k) for k in ("sampler_cfg_function", "sampler_pre_cfg_function",
                                                         "sampler_post_cfg_function"))
    assert model.unet_patches == () and "forward" not in model.unet.__dict__


def test_freeu_sees_the_decoder_joins(executor):
    """The join function gets the upsampled features and the skip of every decoder ResNet;
    an identity join changes nothing and the blocks are put back afterwards."""
    from diffusion.output_block_patch import OutputBlockPatch

    model = _value(executor, _prompt(), node="4")
    unet = model.unet
    seen = []

    def spy(h, hsp):
        seen.append(h.shape[1] + hsp.shape[1])
        return h, hsp

    x = torch.randn(1, 4, 8, 8)
    t = torch.tensor([500])
    text = torch.randn(1, 77, unet.config.cross_attention_dim)
    with torch.no_grad():
        reference = unet(x, t, encoder_hidden_states=text).sample
        with OutputBlockPatch("spy", spy).applied(unet):
            spied = unet(x, t, encoder_hidden_states=text).sample
        after = unet(x, t, encoder_hidden_states=text).sample
    resnets = [r for block in unet.up_blocks for r in block.resnets]
    assert torch.equal(reference, spied) and torch.equal(reference, after)
    assert seen == [int(r.conv1.in_channels) for r in resnets]
    assert all("forward" not in block.__dict__ for block in unet.up_blocks)


def _inpaint_prompt(mask_value: float, differential: bool) -> dict:
    prompt = _prompt(({"class_type": "DifferentialDiffusion", "inputs": {"strength": 1.0}}) if differential else None)
    prompt["40"] = {"class_type": "SolidMask", "inputs": {"value": mask_value, "width": 64, "height": 64}}
    prompt["41"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["5", 0], "mask": ["40", 0]}}
    prompt["3"]["inputs"]["latent_image"] = ["41", 0]
    prompt["3"]["inputs"]["denoise"] = 1.0
    return prompt


def test_differential_diffusion_soft_mask(executor):
    hard = _latent(executor, _inpaint_prompt(1.0, differential=False))
    assert torch.allclose(_latent(executor, _inpaint_prompt(1.0, differential=True)), hard, atol=1e-5)
    keep = _latent(executor, _inpaint_prompt(0.0, differential=False))
    soft = _latent(executor, _inpaint_prompt(0.5, differential=True))
    assert not torch.allclose(soft, hard, atol=1e-3) and not torch.allclose(soft, keep, atol=1e-3)


def test_torch_compile_model_falls_back_where_it_cannot_compile(executor, plain, caplog):
    from nodes.guidance_nodes import TorchCompileModel

    model = _value(executor, _prompt(), node="4")
    with caplog.at_level("WARNING"):
        (same,) = TorchCompileModel().execute(None, model=model, backend="cudagraphs")
    assert same is model and "cudagraphs" in caplog.text
    patch = {"class_type": "TorchCompileModel", "inputs": {"backend": "cudagraphs"}}
    assert torch.equal(_latent(executor, _prompt(patch)), plain)


# --- SDXL text encode -------------------------------------------------------------------------

def _sdxl_encode(executor: Executor, node: dict):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
              "6": {**node, "inputs": {"clip": ["4", 1], **node["inputs"]}},
              "7": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}}}
    return _value(executor, prompt, node="6")


SIZES = {"width": 1024, "height": 768, "crop_w": 0, "crop_h": 16, "target_width": 1024, "target_height": 768}


def test_sdxl_text_encode_reads_a_prompt_per_encoder(executor):
    same = _sdxl_encode(executor, {"class_type": "CLIPTextEncodeSDXL",
                                   "inputs": {**SIZES, "text_g": "a red cat", "text_l": "a red cat"}})
    plain = _sdxl_encode(executor, {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cat"}})
    assert torch.allclose(same[0][0], plain[0][0]) and torch.allclose(same[0][1]["pooled_output"],
                                                                    plain[0][1]["pooled_output"])
    assert {k: same[0][1][k] for k in SIZES} == SIZES
    split = _sdxl_encode(executor, {"class_type": "CLIPTextEncodeSDXL",
                                    "inputs": {**SIZES, "text_g": "a red cat", "text_l": "a blue dog"}})
    dog = _sdxl_encode(executor, {"class_type": "CLIPTextEncode", "inputs": {"text": "a blue dog"}})
    clip = _value(executor, {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
                             "7": {"class_type": "PreviewAny", "inputs": {"source": ["4", 1]}}}, node="4", slot=1)
    width_l = next(s.model.config.hidden_size for s in clip.encoders if s.name == "l")  # clip_l's part comes first
    assert torch.allclose(split[0][0][..., :width_l], dog[0][0][..., :width_l])
    assert torch.allclose(split[0][0][..., width_l:], plain[0][0][..., width_l:])
    assert torch.allclose(split[0][1]["pooled_output"], plain[0][1]["pooled_output"])  # pooled from clip_g
    refiner = _sdxl_encode(executor, {"class_type": "CLIPTextEncodeSDXLRefiner",
                                      "inputs": {"ascore": 2.5, "width": 512, "height": 512, "text": "x"}})
    assert refiner[0][1]["aesthetic_score"] == 2.5 and refiner[0][1]["width"] == 512


def test_sdxl_size_conditioning_reaches_the_unet(executor):
    def sample(width: int) -> torch.Tensor:
        prompt = _prompt(ckpt="sdxl.safetensors", steps=2)
        for node in ("6", "7"):
            text = prompt[node]["inputs"]["text"]
            prompt[node] = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
                "clip": ["4", 1], **SIZES, "width": width, "text_g": text, "text_l": text}}
        return _latent(executor, prompt)

    assert not torch.allclose(sample(1024), sample(512), atol=1e-5)


def test_sdxl_text_encode_refuses_a_one_encoder_clip(executor):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd1.safetensors"}},
              "6": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"clip": ["4", 1], **SIZES, "text_g": "a",
                                                                   "text_l": "b"}},
              "7": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}}}
    result = executor.run(prompt)
    assert result.status == "error" and "two text encoders" in json.dumps(result.error)


# --- attention multipliers, instruct-pix2pix ---------------------------------------------------

def test_attention_multipliers(executor, plain):
    neutral = {"q": 1.0, "k": 1.0, "v": 1.0, "out": 1.0}
    for node in ("UNetSelfAttentionMultiply", "UNetCrossAttentionMultiply"):
        assert torch.equal(_latent(executor, _prompt({"class_type": node, "inputs": neutral})), plain)
        changed = _latent(executor, _prompt({"class_type": node, "inputs": {**neutral, "v": 0.5}}))
        assert not torch.allclose(changed, plain, atol=1e-4)
    from nodes.attention_multiply import UNetCrossAttentionMultiply

    model = _value(executor, _prompt(), node="4")
    (patched,) = UNetCrossAttentionMultiply().execute(None, model=model, **{**neutral, "out": 2.0})
    targets = {p.target for p in patched.patches}
    assert targets and all(".attn2.to_out.0." in t for t in targets)
    assert any(t.endswith(".bias") for t in targets) and model.patches == ()

    prompt = _prompt()
    prompt["31"] = {"class_type": "CLIPAttentionMultiply", "inputs": {"clip": ["4", 1], **neutral, "q": 0.5}}
    prompt["6"]["inputs"]["clip"] = ["31", 0]
    assert not torch.allclose(_latent(executor, prompt), plain, atol=1e-4)


def test_instruct_pix2pix_conditioning(tmp_path):
    folders = Folders.under(tmp_path)
    (folders.models / "checkpoints").mkdir(parents=True)
    write_tiny_checkpoint(folders.models / "checkpoints" / "ip2p.safetensors", ModelFamily.SD1, unet_in_channels=8)
    executor = Executor(folders)

    def edit(colour: float) -> tuple[torch.Tensor, dict]:
        prompt = _prompt(ckpt="ip2p.safetensors", steps=2)
        prompt["40"] = {"class_type": "EmptyImage", "inputs": {"width": 66, "height": 64, "batch_size": 1,
                                                              "color": int(colour * 0xFFFFFF)}}
        prompt["41"] = {"class_type": "InstructPixToPixConditioning", "inputs": {
            "positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2], "pixels": ["40", 0]}}
        prompt["3"]["inputs"].update(positive=["41", 0], negative=["41", 1], latent_image=["41", 2])
        return _latent(executor, prompt), _value(executor, prompt, node="41", slot=0)[0][1]

    red, extras = edit(1.0)
    assert extras["concat_latent_image"].shape[-2:] == (8, 8)  # cropped to 64x64 before encoding
    blue, _ = edit(0.25)
    assert red.shape == (1, 4, 8, 8) and not torch.allclose(red, blue, atol=1e-4)


def test_canny_and_morphology_on_a_square():
    from nodes.image_preprocess import Canny, Morphology

    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 1.0
    (edges,) = Canny().execute(None, image=image, low_threshold=0.4, high_threshold=0.8)
    grey = edges[0, :, :, 0]
    assert set(grey.unique().tolist()) == {0.0, 1.0}
    assert grey[16].nonzero().flatten().tolist() in ([7, 24], [8, 23])  # one thin edge each side
    assert grey[:5].sum() == 0 and grey[12:20, 12:20].sum() == 0
    (blank,) = Canny().execute(None, image=torch.full((1, 16, 16, 3), 0.5), low_threshold=0.4, high_threshold=0.8)
    assert blank.sum() == 0
    (dilated,) = Morphology().execute(None, image=image, operation="dilate", kernel_size=3)
    assert dilated[0, :, :, 0].sum() == 18 * 18
    (eroded,) = Morphology().execute(None, image=image, operation="erode", kernel_size=3)
    assert eroded[0, :, :, 0].sum() == 14 * 14
    (opened,) = Morphology().execute(None, image=image, operation="open", kernel_size=5)
    assert torch.equal(opened, image)
    (gradient,) = Morphology().execute(None, image=image, operation="gradient", kernel_size=3)
    assert gradient[0, :, :, 0].sum() == 18 * 18 - 14 * 14
    (top_hat,) = Morphology().execute(None, image=image, operation="top_hat", kernel_size=3)
    assert top_hat.abs().sum() == 0


@pytest.mark.parametrize("patch", [
    {"class_type": "PerturbedAttentionGuidance", "inputs": {"scale": 3.0}},
    {"class_type": "SelfAttentionGuidance", "inputs": {"scale": 0.5, "blur_sigma": 2.0}},
], ids=lambda p: p["class_type"])
def test_attention_guidance(executor, plain, patch):
    off = {**patch, "inputs": {**patch["inputs"], "scale": 0.0}}
    assert torch.allclose(_latent(executor, _prompt(off)), plain, rtol=1e-4, atol=1e-3)
    guided = _latent(executor, _prompt(patch))
    assert torch.isfinite(guided).all() and not torch.allclose(guided, plain, atol=1e-3)
    model = _value(executor, _prompt(), node="4")
    assert all(type(m.processor).__module__.startswith("diffusers") for m in
               [b.attn1 for a in model.unet.mid_block.attentions for b in a.transformer_blocks])


def test_self_attention_guidance_blurs_where_attention_goes():
    from diffusion.attention_guidance import blur_where_attended, middle_size

    assert middle_size(64, 48, 3) == (8, 6) and middle_size(9, 9, 2) == (3, 3)
    x0 = torch.zeros(1, 4, 16, 16)
    x0[..., 4, 4] = 1.0
    tokens = 4  # a 2x2 middle block
    scores = torch.full((2, tokens, tokens), 1.0 / tokens)  # two heads, uniform: each token receives 1.0
    scores[:, :, 0] += 0.5  # the top-left token receives more
    scores[:, :, 1:] -= 0.5 / 3
    out = blur_where_attended(x0, scores, (2, 2), sigma=2.0)
    assert out[..., 4, 4].max() < 1.0 and out[..., :8, :8].sum() == pytest.approx(x0.sum().item(), rel=0.05)
    assert torch.equal(out[..., 8:, :], x0[..., 8:, :])


@pytest.mark.parametrize("after_skip", [True, False])
def test_deep_shrink(executor, plain, after_skip):
    settings = {"block_number": 1, "downscale_factor": 2.0, "start_percent": 0.0, "end_percent": 0.35,
                "downscale_after_skip": after_skip, "downscale_method": "bicubic", "upscale_method": "bicubic"}
    never = {**settings, "start_percent": 1.0, "end_percent": 1.0}
    assert torch.equal(_latent(executor, _prompt({"class_type": "PatchModelAddDownscale", "inputs": never})), plain)
    shrunk = _latent(executor, _prompt({"class_type": "PatchModelAddDownscale", "inputs": settings}))
    assert shrunk.shape == plain.shape and torch.isfinite(shrunk).all()
    assert not torch.allclose(shrunk, plain, atol=1e-3)


def test_deep_shrink_halves_the_features_in_its_window(executor):
    from diffusion.deep_shrink import DeepShrinkPatch, input_block_stages
    from diffusion.unet_patches import StepState, step

    model = _value(executor, _prompt(), node="4")
    unet = model.unet
    sizes = []
    handle = unet.mid_block.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape[-2:])))
    x, t = torch.randn(1, 4, 16, 16), torch.tensor([900])
    text = torch.randn(1, 77, unet.config.cross_attention_dim)
    patch = DeepShrinkPatch(1, 2.0, 0.0, 0.5, True, "bilinear", "bilinear")
    sigmas = (((1 - model.alphas_cumprod) / model.alphas_cumprod) ** 0.5).float()
    try:
        with torch.no_grad(), patch.applied(unet):
            for sigma in (14.0, 0.05):  # inside the window (the start of sampling), then after it
                with step(StepState(torch.tensor([sigma]), sigmas)):
                    out = unet(x, t, encoder_hidden_states=text).sample
                    assert out.shape == x.shape
    finally:
        handle.remove()
    levels = len(input_block_stages(unet)) and sum(1 for b in unet.down_blocks if b.downsamplers)
    full = 16 // 2 ** levels
    assert sizes == [(full // 2, full // 2), (full, full)]


def test_hypertile_and_token_merging(executor, plain):
    big = _prompt()
    big["5"]["inputs"].update(width=128, height=128)
    reference = _latent(executor, big)
    for patch in ({"class_type": "HyperTile", "inputs": {"tile_size": 32, "swap_size": 2, "max_depth": 1,
                                                        "scale_depth": False}},
                  {"class_type": "TomePatchModel", "inputs": {"ratio": 0.5}}):
        prompt = _prompt(patch)
        prompt["5"]["inputs"].update(width=128, height=128)
        out = _latent(executor, prompt)
        assert out.shape == reference.shape and torch.isfinite(out).all()
        assert not torch.allclose(out, reference, atol=1e-3), patch["class_type"]
        assert torch.equal(_latent(executor, {**prompt, "3": {**prompt["3"], "inputs": {**prompt["3"]["inputs"],
                                                                                         "seed": 11}}}), out)
    untouched = _prompt({"class_type": "TomePatchModel", "inputs": {"ratio": 0.0}})
    assert torch.equal(_latent(executor, untouched), plain)


def test_hypertile_tiles_attention_exactly():
    """Tiled attention equals attention run on each tile by itself."""
    from diffusers.models.attention_processor import Attention

    from diffusion.token_patches import HyperTilePatch, tile_counts

    assert tile_counts(16, 4, 2, 0) == 4 and tile_counts(16, 4, 2, 1) == 2 and tile_counts(3, 8, 2, 0) == 1
    torch.manual_seed(0)
    attn = Attention(8, heads=2, dim_head=4).eval()
    patch = HyperTilePatch(tile_size=32, swap_size=1, max_depth=0, scale_depth=False)
    patch.size["size"] = (8, 8)
    x = torch.randn(1, 64, 8)
    tiled = patch.processor(attn.processor)
    with torch.no_grad():
        out = tiled(attn, x)
        grid = x.reshape(1, 2, 4, 2, 4, 8)
        first_tile = grid[:, 0, :, 0].reshape(1, 16, 8)
        alone = attn.processor(attn, first_tile)
    assert torch.allclose(out.reshape(1, 8, 8, 8)[:, :4, :4].reshape(1, 16, 8), alone, atol=1e-6)


def test_token_merging_merges_and_spreads_back():
    from diffusion.token_patches import bipartite_merge

    x = torch.randn(2, 16, 3)
    x[:, 1] = x[:, 0]  # two identical neighbours: the first merge candidates
    merge, unmerge = bipartite_merge(x, 4, 4, r=4, generator=torch.Generator().manual_seed(0))
    merged = merge(x)
    assert merged.shape == (2, 12, 3)
    back = unmerge(merged)
    assert back.shape == x.shape
    same = torch.isclose(back, x, atol=1e-6).all(-1)
    assert same.sum(-1).min() >= 8  # the 12 - 4 sources left unmerged come back exactly
    assert torch.allclose(back[:, 0], back[:, 1])  # the identical pair was merged: one shared output


def test_hypernetwork_loader(executor, plain, tmp_path):
    from collections import OrderedDict

    def mlp(width: int, seed: int) -> OrderedDict:
        g = torch.Generator().manual_seed(seed)
        return OrderedDict([("linear.0.weight", torch.randn(width * 2, width, generator=g) * 0.1),
                            ("linear.0.bias", torch.zeros(width * 2)),
                            ("linear.1.weight", torch.randn(width, width * 2, generator=g) * 0.1),
                            ("linear.1.bias", torch.zeros(width))])

    model = _value(executor, _prompt(), node="4")
    widths = {int(model.unet.config.cross_attention_dim)} | set(model.unet.config.block_out_channels)
    data = {w: [mlp(w, w), mlp(w, w + 1)] for w in widths}
    data.update(activation_func="relu", is_layer_norm=False, name="tiny", layer_structure=[1, 2, 1])
    folder = executor.folders.models / "hypernetworks"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(data, folder / "tiny.pt")
    patch = {"class_type": "HypernetworkLoader", "inputs": {"hypernetwork_name": "tiny.pt", "strength": 1.0}}
    shifted = _latent(executor, _prompt(patch))
    assert torch.isfinite(shifted).all() and not torch.allclose(shifted, plain, atol=1e-3)
    off = {"class_type": "HypernetworkLoader", "inputs": {"hypernetwork_name": "tiny.pt", "strength": 0.0}}
    assert torch.allclose(_latent(executor, _prompt(off)), plain, rtol=1e-4, atol=1e-3)
