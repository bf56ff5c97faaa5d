"""SDXL's refiner and SD2's x4 upscaler: loading their checkpoints, the inputs their UNets
are given (checked against formulas written here from ComfyUI's model definitions), and
ComfyUI-shaped workflows that use them, through the executor."""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch

from diffusion.loader import load_checkpoint
from diffusion.sampling import sample
from diffusion.types import ModelFamily, PredictionType
from nodes.upscale_diffusion_nodes import SD4XUpscaleConditioning
from tests.tiny_models import build_tiny_diffusers_parts

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folders(make_folders):
    return make_folders({"x4.safetensors": {"variant": "x4"}, "refiner.safetensors": {"variant": "refiner"},
                         "base.safetensors": ModelFamily.SDXL}, input=True)


def _load(folders, name: str):
    return load_checkpoint(folders.models / "checkpoints" / name, device=CPU, dtype=torch.float32)


@contextlib.contextmanager
def unet_inputs(unet: torch.nn.Module):
    """Every UNet call's (sample, kwargs) while inside."""
    calls: list[tuple[torch.Tensor, dict]] = []
    handle = unet.register_forward_pre_hook(lambda _m, args, kwargs: calls.append((args[0].clone(), kwargs)),
                                            with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


def _prompts(clip, positive: str = "a lighthouse", negative: str = "blurry") -> tuple[list, list]:
    cond, pooled = clip.encode_text(positive)
    neg, neg_pooled = clip.encode_text(negative)
    return [[cond, {"pooled_output": pooled}]], [[neg, {"pooled_output": neg_pooled}]]


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("variant", ["x4", "refiner"])
def test_variant_checkpoints_load_with_their_own_weights(folders, variant):
    source = build_tiny_diffusers_parts(ModelFamily.SD1, variant=variant)  # the weights written for the file
    loaded = _load(folders, f"{variant}.safetensors")
    expected = source["unet"].state_dict()
    got = loaded.model.unet.state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    if variant == "x4":
        assert loaded.family == ModelFamily.SD2 and loaded.model.x4_upscaler
        assert loaded.model.prediction_type == PredictionType.V_PREDICTION  # the only kind it was trained as
        assert loaded.model.latent_scale == 0.08333 and loaded.vae.downscale == 4
        assert [s.name for s in loaded.clip.encoders] == ["h"]
        betas = np.linspace(0.0001**0.5, 0.02**0.5, 1000, dtype=np.float64) ** 2
        torch.testing.assert_close(loaded.model.alphas_cumprod.double(), torch.from_numpy(np.cumprod(1 - betas)),
                                   rtol=1e-5, atol=0)
    else:
        assert loaded.family == ModelFamily.SDXL and loaded.model.is_sdxl_refiner
        assert [s.name for s in loaded.clip.encoders] == ["g"] and loaded.model.pooled_dim == 48


# ----------------------------------------------------------------------------- x4 upscaler


def test_x4_conditioning_node_sizes_and_pixels():
    images = torch.rand(2, 12, 16, 4)
    positive = [[torch.zeros(1, 77, 8), {"pooled_output": None}]]
    negative = [[torch.ones(1, 77, 8), {"strength": 0.5}]]
    node = SD4XUpscaleConditioning()
    pos, neg, latent = node.execute(None, images, positive, negative, scale_ratio=4.0, noise_augmentation=0.2)
    assert latent["samples"].shape == (2, 4, 12, 16) and not latent["samples"].any()
    expected = images[..., :3].permute(0, 3, 1, 2) * 2 - 1  # same size: no resampling
    for out, given in ((pos, positive), (neg, negative)):
        assert out[0][0] is given[0][0]
        assert torch.equal(out[0][1]["concat_image"], expected) and out[0][1]["noise_augmentation"] == 0.2
    assert "concat_image" not in positive[0][1]  # the inputs are left as they were
    assert neg[0][1]["strength"] == 0.5
    _, _, half = node.execute(None, images, positive, negative, scale_ratio=2.0, noise_augmentation=0.0)
    assert half["samples"].shape == (2, 4, 6, 8)  # 24 x 32 over 4
    small = node.execute(None, images, positive, negative, scale_ratio=2.0, noise_augmentation=0.0)[0]
    want = torch.nn.functional.interpolate(expected, size=(6, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(small[0][1]["concat_image"], want)
    with pytest.raises(ValueError, match="4-pixel latent cell"):
        node.execute(None, images, positive, negative, scale_ratio=0.1, noise_augmentation=0.0)


def _reference_augmented(pixels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, int]:
    """ComfyUI's SD_X4Upscaler input, from its formula: level = round(350 * fraction), the
    image noised on the linear(1e-4, 0.02) schedule's level, noise seeded with seed - 10."""
    level = round(350 * fraction)
    if fraction <= 0:
        return pixels, level
    betas = np.linspace(0.0001**0.5, 0.02**0.5, 1000, dtype=np.float64) ** 2
    bar = np.cumprod(1.0 - betas)
    noise = torch.randn(pixels.shape, generator=torch.manual_seed(seed - 10))
    return float(np.sqrt(bar[level])) * pixels + float(np.sqrt(1 - bar[level])) * noise, level


@pytest.mark.parametrize("fraction,seed", [(0.0, 3), (0.25, 3), (0.6, 2**64 - 5)])
def test_x4_unet_reads_the_noised_image_and_its_level(folders, fraction, seed):
    parts = _load(folders, "x4.safetensors")
    images = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    positive, negative = _prompts(parts.clip)
    pos, neg, latent = SD4XUpscaleConditioning().execute(None, images, positive, negative, 4.0, fraction)
    with unet_inputs(parts.model.unet) as calls:
        out = sample(parts.model, latent["samples"], pos, neg, seed=seed, steps=2, cfg=3.0,
                     sampler_name="euler", scheduler="normal")
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
    want, level = _reference_augmented(images.permute(0, 3, 1, 2) * 2 - 1, fraction, seed)
    assert len(calls) == 2  # positive and negative share each step's call
    for x_in, kwargs in calls:
        assert x_in.shape == (2, 7, 8, 8)
        for row in range(2):
            torch.testing.assert_close(x_in[row, 4:], want[0], rtol=0, atol=1e-6)
        assert kwargs["class_labels"].tolist() == [level, level]


def test_x4_upscale_workflow_runs_end_to_end(folders):
    from executor.run import Executor

    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x4.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a sharp photo"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 12, "batch_size": 1, "color": 0x3366CC}},
        "5": {"class_type": "SD_4XUpscale_Conditioning",
              "inputs": {"images": ["4", 0], "positive": ["2", 0], "negative": ["3", 0], "scale_ratio": 4.0,
                         "noise_augmentation": 0.2}},
        "6": {"class_type": "KSampler",
              "inputs": {"model": ["1", 0], "positive": ["5", 0], "negative": ["5", 1], "latent_image": ["5", 2],
                         "seed": 11, "steps": 3, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "x4"}},
    }
    executor = Executor(folders)
    result = executor.run(prompt)
    assert result.status == "success", result.error
    (saved,) = result.outputs["8"]["images"]
    from PIL import Image

    with Image.open(folders.output / saved["filename"]) as image:
        assert image.size == (64, 48)  # 16 x 12 at scale 4: the latent is 16 x 12, the VAE enlarges 4x


# ----------------------------------------------------------------------------- SDXL refiner


def _time_ids(calls) -> list[list[float]]:
    return [row for _x, kwargs in calls for row in kwargs["added_cond_kwargs"]["time_ids"].tolist()]


def test_refiner_size_and_score_inputs(folders):
    parts = _load(folders, "refiner.safetensors")
    positive, negative = _prompts(parts.clip)
    latent = torch.zeros(1, 4, 8, 6)
    with unet_inputs(parts.model.unet) as calls:
        sample(parts.model, latent, positive, negative, seed=1, steps=1, cfg=5.0, sampler_name="euler",
               scheduler="normal")
    # ComfyUI's refiner defaults: the latent's size in pixels, no crop, score 6 (2.5 for the negative)
    assert len(calls) == 1 and _time_ids(calls) == [[64, 48, 0, 0, 6.0], [64, 48, 0, 0, 2.5]]
    from nodes.sdxl_text_nodes import CLIPTextEncodeSDXLRefiner

    (scored,) = CLIPTextEncodeSDXLRefiner().execute(None, ascore=7.5, width=1024, height=768, text="x",
                                                     clip=parts.clip)
    with unet_inputs(parts.model.unet) as calls:
        sample(parts.model, latent, scored, negative, seed=1, steps=1, cfg=5.0, sampler_name="euler",
               scheduler="normal")
    assert _time_ids(calls) == [[768, 1024, 0, 0, 7.5], [64, 48, 0, 0, 2.5]]


def test_base_sizes_are_the_whole_latents_in_a_region(folders):
    """An area's prediction still tells the UNet the whole image's size (as ComfyUI)."""
    parts = _load(folders, "base.safetensors")
    positive, negative = _prompts(parts.clip)
    area = [[positive[0][0], {**positive[0][1], "area": (4, 4, 0, 0), "strength": 1.0}]]
    with unet_inputs(parts.model.unet) as calls:
        sample(parts.model, torch.zeros(1, 4, 8, 8), positive + area, negative, seed=1, steps=1, cfg=5.0,
               sampler_name="euler", scheduler="normal")
    assert {tuple(row) for row in _time_ids(calls)} == {(64, 64, 0, 0, 64, 64)}
    assert any(x.shape[-1] == 4 for x, _ in calls)  # the area did run on its own crop


def test_base_then_refiner_workflow_as_comfyui_ships_it(folders):
    """ComfyUI's SDXL example: the base model's first 20 of 25 steps with leftover noise, the
    refiner's last 5 on its own prompts, one decode (sizes scaled down for the tiny models)."""
    from executor.run import Executor

    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle with a galaxy", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "10": {"class_type": "KSamplerAdvanced",
               "inputs": {"add_noise": "enable", "noise_seed": 721897303308196, "steps": 25, "cfg": 8.0,
                          "sampler_name": "euler", "scheduler": "normal", "start_at_step": 0, "end_at_step": 20,
                          "return_with_leftover_noise": "enable", "model": ["4", 0], "positive": ["6", 0],
                          "negative": ["7", 0], "latent_image": ["5", 0]}},
        "11": {"class_type": "KSamplerAdvanced",
               "inputs": {"add_noise": "disable", "noise_seed": 0, "steps": 25, "cfg": 8.0, "sampler_name": "euler",
                          "scheduler": "normal", "start_at_step": 20, "end_at_step": 10000,
                          "return_with_leftover_noise": "disable", "model": ["12", 0], "positive": ["15", 0],
                          "negative": ["16", 0], "latent_image": ["10", 0]}},
        "12": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "refiner.safetensors"}},
        "15": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle with stars", "clip": ["12", 1]}},
        "16": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["12", 1]}},
        "17": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}},
        "19": {"class_type": "SaveImage", "inputs": {"filename_prefix": "refined", "images": ["17", 0]}},
    }
    result = Executor(folders).run(prompt)
    assert result.status == "success", result.error
    assert len(result.outputs["19"]["images"]) == 1


def test_refiner_saved_as_a_checkpoint_loads_back(folders, tmp_path):
    from diffusion.checkpoint_save import checkpoint_metadata, checkpoint_state_dict, write_new_safetensors

    parts = _load(folders, "refiner.safetensors")
    sd = checkpoint_state_dict(parts.model, parts.clip, parts.vae)
    assert any(k.startswith("conditioner.embedders.0.model.") for k in sd)
    assert not any(k.startswith("conditioner.embedders.1.") for k in sd)
    metadata = checkpoint_metadata(parts.model, "refined")
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-refiner"
    again = load_checkpoint(write_new_safetensors(sd, tmp_path / "r.safetensors", metadata), device=CPU,
                            dtype=torch.float32)
    assert again.model.is_sdxl_refiner
    first, second = parts.model.unet.state_dict(), again.model.unet.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    cond = parts.clip.encode_text("same words")
    torch.testing.assert_close(again.clip.encode_text("same words")[0], cond[0], rtol=0, atol=0)
    assert math.isclose(float(again.model.latent_scale), 0.13025)


# ----------------------------------------------------------------------------- full-size shapes

FULL_SIZE_UNETS = {  # the published diffusers configs of the two models (sizes are facts)
    "refiner": dict(addition_embed_type="text_time", addition_time_embed_dim=256, attention_head_dim=[6, 12, 24, 24],
                    block_out_channels=[384, 768, 1536, 1536], cross_attention_dim=1280,
                    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                    layers_per_block=2, projection_class_embeddings_input_dim=2560, transformer_layers_per_block=4,
                    use_linear_projection=True),
    "x4": dict(attention_head_dim=8, block_out_channels=[256, 512, 512, 1024], cross_attention_dim=1024,
               down_block_types=["DownBlock2D"] + ["CrossAttnDownBlock2D"] * 3,
               up_block_types=["CrossAttnUpBlock2D"] * 3 + ["UpBlock2D"], in_channels=7, out_channels=4,
               layers_per_block=2, num_class_embeds=1000, only_cross_attention=[True, True, True, False],
               use_linear_projection=True),
}


@pytest.mark.parametrize("variant", ["refiner", "x4"])
def test_full_size_variant_unets_convert_exactly(variant):
    """The real models' UNets built on the meta device and written in original layout: the
    shapes give back their configs (the refiner's 5 size embeddings, the x4 upscaler's
    8 heads and text-only first attentions) and every weight finds its place."""
    from diffusers import UNet2DConditionModel

    from diffusion import convert, loader
    from diffusion.families import sdxl_size_ids
    from tests.tiny_models import unet_to_original

    expected = FULL_SIZE_UNETS[variant]
    with torch.device("meta"):
        unet = UNet2DConditionModel(**expected)
    sd = unet_to_original(unet)
    family = ModelFamily.SDXL if variant == "refiner" else ModelFamily.SD2
    size_ids = sdxl_size_ids(sd, 1280 if variant == "refiner" else None)
    config = convert.unet_config(sd, family, pooled_dim=1280 if variant == "refiner" else None, size_ids=size_ids)
    def at_attention_levels(value, kinds):
        values = value if isinstance(value, list) else [value] * len(kinds)
        return [v for v, kind in zip(values, kinds) if "CrossAttn" in kind]

    for key, value in expected.items():
        if key in ("only_cross_attention", "transformer_layers_per_block"):  # levels without attention have no say
            assert at_attention_levels(config[key], config["down_block_types"]) == \
                at_attention_levels(value, expected["down_block_types"]), key
        else:
            assert config[key] == value, key
    loader.instantiate(lambda: UNet2DConditionModel.from_config(config), convert.convert_unet(sd, config),
                       torch.float16, "UNet")


def test_x4_image_batch_follows_the_latents():
    from diffusion.cond_batch import resize_batch

    rows = torch.arange(3.0).reshape(3, 1)
    assert resize_batch(rows, 3) is rows
    assert resize_batch(rows, 6).flatten().tolist() == [0, 0, 1, 1, 2, 2]
    assert resize_batch(rows, 2).flatten().tolist() == [0, 2]
    assert resize_batch(rows[:1], 4).flatten().tolist() == [0, 0, 0, 0]
    assert resize_batch(rows, 1).flatten().tolist() == [0]
    assert resize_batch(rows[:2], 5).flatten().tolist() == [0, 0, 1, 1, 1]  # floor((i + 0.5) * 2 / 5)
