"""Tiny random-weight SD1/SD2/SDXL models for tests, and writers for them.

`build_tiny_diffusers_parts` makes diffusers/transformers modules with the real
architectures at toy widths; `write_original_checkpoint` (diffusion/export.py) saves them
in the original single-file (LDM / ComfyUI) key layout with a mapping written
independently of the loader's, so loader tests check one implementation against another;
`save_diffusers_folder` writes a diffusers pipeline folder; `write_tiny_checkpoint` is the
one-call helper for executor/CLI tests (SD1: ~10 MB, runs at 64x64 in well under a second).

Head counts follow diffusion/configs/README.md: SD1 UNet 8 heads, SD2/SDXL UNet
max(1, channels // 64), CLIP max(1, hidden // 64).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import torch

from diffusion.export import (  # noqa: F401  (re-exported for tests)
    clip_to_original,
    open_clip_to_original,
    original_state_dict,
    unet_to_original,
    vae_to_original,
    write_original_checkpoint,
)
from diffusion.types import ModelFamily, PredictionType

CLIP_HIDDEN = {"l": 32, "h": 64, "g": 64}
CLIP_LAYERS = {"l": 2, "h": 3, "g": 2}
G_PROJECTION_DIM = 48  # differs from G's width so a transposed projection cannot load
SDXL_TIME_EMBED_DIM = 8
# Four levels: 8x downsampling like the real VAE; SD1's stays narrow to keep its file small.
VAE_CHANNELS = {ModelFamily.SD1: (32, 32, 32, 32), ModelFamily.SD2: (32, 32, 64, 64), ModelFamily.SDXL: (32, 32, 64, 64)}


def _heads(channels: tuple[int, ...]) -> list[int]:
    return [max(1, c // 64) for c in channels]


UNET_KWARGS: dict[ModelFamily, dict[str, Any]] = {
    ModelFamily.SD1: dict(
        block_out_channels=(32, 32, 64),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        attention_head_dim=8,
        cross_attention_dim=CLIP_HIDDEN["l"],
    ),
    ModelFamily.SD2: dict(
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=2,
        attention_head_dim=_heads((32, 64)),
        use_linear_projection=True,
        cross_attention_dim=CLIP_HIDDEN["h"],
    ),
    ModelFamily.SDXL: dict(
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        attention_head_dim=_heads((32, 64)),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        cross_attention_dim=CLIP_HIDDEN["l"] + CLIP_HIDDEN["g"],
        addition_embed_type="text_time",
        addition_time_embed_dim=SDXL_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=G_PROJECTION_DIM + 6 * SDXL_TIME_EMBED_DIM,
    ),
}


# Variants: SDXL's refiner (OpenCLIP-G alone, 5 size/score embeddings) and SD2's x4
# upscaler (noise-level classes, the low-resolution image as 3 more input channels, a 4x
# VAE). The x4 UNet's widths differ from the text's, so cross-only attention shows in shapes.
VARIANT_UNET_KWARGS: dict[str, dict[str, Any]] = {
    "refiner": dict(UNET_KWARGS[ModelFamily.SDXL], cross_attention_dim=CLIP_HIDDEN["g"],
                    projection_class_embeddings_input_dim=G_PROJECTION_DIM + 5 * SDXL_TIME_EMBED_DIM),
    "x4": dict(
        block_out_channels=(32, 96, 96),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        attention_head_dim=8,
        use_linear_projection=True,
        cross_attention_dim=CLIP_HIDDEN["h"],
        num_class_embeds=1000,
        only_cross_attention=(True, True, False),
        in_channels=7,
        out_channels=4,
    ),
}
VARIANT_FAMILIES = {"refiner": ModelFamily.SDXL, "x4": ModelFamily.SD2}


def _perturb(module: torch.nn.Module, gen: torch.Generator, scale: float = 0.02) -> None:
    """Add seeded noise to every weight so that zero biases and unit norms are told apart."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def _clip(name: str):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    hidden = CLIP_HIDDEN[name]
    cfg = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=CLIP_LAYERS[name],
        num_attention_heads=max(1, hidden // 64),
        max_position_embeddings=77,
        hidden_act="quick_gelu" if name == "l" else "gelu",
        projection_dim=G_PROJECTION_DIM if name == "g" else hidden,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    return CLIPTextModelWithProjection(cfg) if name == "g" else CLIPTextModel(cfg)


def build_tiny_diffusers_parts(
    family: ModelFamily, seed: int = 0, prediction_type: PredictionType = PredictionType.EPSILON,
    unet_in_channels: int = 4, variant: str = "",
) -> dict[str, Any]:
    """Random tiny modules: {"family", "prediction_type", "unet", "vae", "text_encoder"
    (CLIP-L, or OpenCLIP-H for SD2), SDXL also "text_encoder_2" (OpenCLIP-G with projection)}.
    `unet_in_channels=9` makes an inpainting UNet (latent + mask + masked image); `variant`
    "refiner" or "x4" one of VARIANT_UNET_KWARGS (the family follows)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    family = VARIANT_FAMILIES.get(variant, ModelFamily(family))
    unet_kwargs = VARIANT_UNET_KWARGS[variant] if variant else dict(UNET_KWARGS[family], in_channels=unet_in_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts: dict[str, Any] = {"family": family, "prediction_type": PredictionType(prediction_type)}
        parts["unet"] = UNet2DConditionModel(sample_size=8, norm_num_groups=32, **unet_kwargs)
        vae_channels = (32, 32, 64) if variant == "x4" else VAE_CHANNELS[family]
        parts["vae"] = AutoencoderKL(
            block_out_channels=vae_channels,
            down_block_types=("DownEncoderBlock2D",) * len(vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(vae_channels),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
        )
        if variant != "refiner":
            parts["text_encoder"] = _clip("h" if family == ModelFamily.SD2 else "l")
        if family == ModelFamily.SDXL:
            parts["text_encoder_2"] = _clip("g")
        gen = torch.Generator().manual_seed(seed + 1)
        for key in ("unet", "vae", "text_encoder", "text_encoder_2"):
            if key in parts:
                _perturb(parts[key], gen)
                parts[key].eval().requires_grad_(False)
    return parts


def save_diffusers_folder(parts: dict[str, Any], folder: Union[str, os.PathLike]) -> Path:
    """Save the parts as a diffusers pipeline folder (model_index.json + subfolders)."""
    folder = Path(folder)
    family = ModelFamily(parts["family"])
    xl = family == ModelFamily.SDXL
    index = {"_class_name": "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline",
             "_diffusers_version": "0.42.1", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if name in parts:
            parts[name].save_pretrained(str(folder / name))
    if xl:
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    sched = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
             "prediction_type": PredictionType(parts["prediction_type"]).value}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2))
    return folder


def write_tiny_checkpoint(
    path: Union[str, os.PathLike], family: ModelFamily = ModelFamily.SD1, seed: int = 0, v_pred: bool = False,
    unet_in_channels: int = 4, variant: str = "",
) -> Path:
    """Build and save a tiny checkpoint in one call; `path` is a file, or a folder to put
    `tiny_<family>.safetensors` (`tiny_<variant>...`) in. Returns the file's path."""
    family = VARIANT_FAMILIES.get(variant, ModelFamily(family))
    path = Path(path)
    if path.is_dir():
        path = path / f"tiny_{variant or family.value}.safetensors"
    pred = PredictionType.V_PREDICTION if v_pred else PredictionType.EPSILON
    parts = build_tiny_diffusers_parts(family, seed=seed, prediction_type=pred, unet_in_channels=unet_in_channels,
                                       variant=variant)
    return write_original_checkpoint(parts, family, path, v_pred=v_pred)


def build_tiny_controlnet(unet, seed: int = 7):
    """A ControlNetModel shaped like `unet`'s encoder half, every weight perturbed (so its
    zero convolutions are not zero and its residuals show)."""
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))
        _perturb(net, torch.Generator().manual_seed(seed + 1), scale=0.05)
    return net.eval().requires_grad_(False)


def controlnet_to_original(net, unet) -> dict[str, torch.Tensor]:
    """A ControlNetModel in the original single-file layout (control_model.*), with the
    encoder's names taken from the UNet exporter and the ControlNet-only parts mapped here."""
    from diffusion.export import unet_ldm_names

    names = {k: v[len("model.diffusion_model."):] for k, v in unet_ldm_names(unet).items()}
    blocks = len(net.controlnet_cond_embedding.blocks)
    out = {}
    for key, value in net.state_dict().items():
        param = key.rsplit(".", 1)[-1]
        if key in names:
            new = names[key]
        elif key.startswith("controlnet_cond_embedding.conv_in."):
            new = f"input_hint_block.0.{param}"
        elif key.startswith("controlnet_cond_embedding.blocks."):
            new = f"input_hint_block.{2 * int(key.split('.')[2]) + 2}.{param}"
        elif key.startswith("controlnet_cond_embedding.conv_out."):
            new = f"input_hint_block.{2 * blocks + 2}.{param}"
        elif key.startswith("controlnet_down_blocks."):
            new = f"zero_convs.{key.split('.')[1]}.0.{param}"
        elif key.startswith("controlnet_mid_block."):
            new = f"middle_block_out.0.{param}"
        else:
            raise KeyError(f"no original-layout name for {key}")
        out["control_model." + new] = value.detach().clone().contiguous()
    return out
