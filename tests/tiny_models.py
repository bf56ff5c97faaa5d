"""Tiny random-weight SD1/SD2/SDXL models for tests, and writers for them.

`build_tiny_diffusers_parts` makes diffusers/transformers modules with the real
architectures at toy widths; `write_original_checkpoint` saves them in the original
single-file (LDM / ComfyUI) key layout with a mapping written here independently of the
loader's, so loader tests check one implementation against another;
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
    family: ModelFamily, seed: int = 0, prediction_type: PredictionType = PredictionType.EPSILON
) -> dict[str, Any]:
    """Random tiny modules: {"family", "prediction_type", "unet", "vae", "text_encoder"
    (CLIP-L, or OpenCLIP-H for SD2), SDXL also "text_encoder_2" (OpenCLIP-G with projection)}."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    family = ModelFamily(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts: dict[str, Any] = {"family": family, "prediction_type": PredictionType(prediction_type)}
        parts["unet"] = UNet2DConditionModel(sample_size=8, norm_num_groups=32, **UNET_KWARGS[family])
        vae_channels = VAE_CHANNELS[family]
        parts["vae"] = AutoencoderKL(
            block_out_channels=vae_channels,
            down_block_types=("DownEncoderBlock2D",) * len(vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(vae_channels),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
        )
        parts["text_encoder"] = _clip("h" if family == ModelFamily.SD2 else "l")
        if family == ModelFamily.SDXL:
            parts["text_encoder_2"] = _clip("g")
        gen = torch.Generator().manual_seed(seed + 1)
        for key in ("unet", "vae", "text_encoder", "text_encoder_2"):
            if key in parts:
                _perturb(parts[key], gen)
                parts[key].eval().requires_grad_(False)
    return parts


# ----------------------------------------------------------------------------- diffusers -> original


def _rename(sd: dict[str, torch.Tensor], prefixes: dict[str, str], inner: dict[str, dict[str, str]]) -> dict:
    """Map every key by its longest matching diffusers prefix; `inner` renames the rest of
    the key for some prefixes. Fails if any key is left unmapped."""
    out = {}
    ordered = sorted(prefixes, key=len, reverse=True)
    for key, value in sd.items():
        src = next((p for p in ordered if key.startswith(p)), None)
        if src is None:
            raise KeyError(f"test mapping has no rule for {key}")
        rest = key[len(src):]
        for old, new in inner.get(src, {}).items():
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        out[prefixes[src] + rest] = value
    return out


UNET_RESNET = {"norm1.": "in_layers.0.", "conv1.": "in_layers.2.", "time_emb_proj.": "emb_layers.1.",
               "norm2.": "out_layers.0.", "conv2.": "out_layers.3.", "conv_shortcut.": "skip_connection."}


def unet_to_original(unet) -> dict[str, torch.Tensor]:
    """Diffusers UNet2DConditionModel -> model.diffusion_model.* keys."""
    n_layers = unet.config.layers_per_block
    prefixes = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
                "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
                "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
                "mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1.",
                "mid_block.resnets.1.": "middle_block.2."}
    resnets = ["mid_block.resnets.0.", "mid_block.resnets.1."]
    idx = 1
    for b, block in enumerate(unet.down_blocks):
        for j in range(n_layers):
            prefixes[f"down_blocks.{b}.resnets.{j}."] = f"input_blocks.{idx}.0."
            resnets.append(f"down_blocks.{b}.resnets.{j}.")
            if getattr(block, "attentions", None):
                prefixes[f"down_blocks.{b}.attentions.{j}."] = f"input_blocks.{idx}.1."
            idx += 1
        if block.downsamplers:
            prefixes[f"down_blocks.{b}.downsamplers.0.conv."] = f"input_blocks.{idx}.0.op."
            idx += 1
    idx = 0
    for b, block in enumerate(unet.up_blocks):
        has_attn = bool(getattr(block, "attentions", None))
        for j in range(n_layers + 1):
            prefixes[f"up_blocks.{b}.resnets.{j}."] = f"output_blocks.{idx}.0."
            resnets.append(f"up_blocks.{b}.resnets.{j}.")
            if has_attn:
                prefixes[f"up_blocks.{b}.attentions.{j}."] = f"output_blocks.{idx}.1."
            if j == n_layers and block.upsamplers:
                prefixes[f"up_blocks.{b}.upsamplers.0.conv."] = f"output_blocks.{idx}.{2 if has_attn else 1}.conv."
            idx += 1
    out = _rename(unet.state_dict(), prefixes, {p: UNET_RESNET for p in resnets})
    return {"model.diffusion_model." + k: v for k, v in out.items()}


VAE_ATTN = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def vae_to_original(vae) -> dict[str, torch.Tensor]:
    """Diffusers AutoencoderKL -> prefix-less original VAE keys (1x1-conv attention)."""
    n = len(vae.config.block_out_channels)
    prefixes = {p: p for p in ("encoder.conv_in.", "encoder.conv_out.", "decoder.conv_in.", "decoder.conv_out.",
                               "quant_conv.", "post_quant_conv.")}
    prefixes.update({"encoder.conv_norm_out.": "encoder.norm_out.", "decoder.conv_norm_out.": "decoder.norm_out."})
    inner: dict[str, dict[str, str]] = {}
    for part in ("encoder", "decoder"):
        for k in range(2):
            prefixes[f"{part}.mid_block.resnets.{k}."] = f"{part}.mid.block_{k + 1}."
        prefixes[f"{part}.mid_block.attentions.0."] = f"{part}.mid.attn_1."
        inner[f"{part}.mid_block.attentions.0."] = VAE_ATTN
    for i in range(n):
        prefixes[f"encoder.down_blocks.{i}.resnets."] = f"encoder.down.{i}.block."
        prefixes[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
        prefixes[f"decoder.up_blocks.{i}.resnets."] = f"decoder.up.{n - 1 - i}.block."
        prefixes[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{n - 1 - i}.upsample."
    out = _rename(vae.state_dict(), prefixes, inner)
    out = {k.replace(".conv_shortcut.", ".nin_shortcut."): v for k, v in out.items()}
    return {k: (v[:, :, None, None] if ".mid.attn_1." in k and k.endswith("weight") and v.ndim == 2 else v)
            for k, v in out.items()}


def _text_sd(model) -> dict[str, torch.Tensor]:
    """Transformers CLIP weights with the `text_model.` level made explicit."""
    sd = model.state_dict()
    if any(k.startswith("text_model.") for k in sd):
        return sd
    return {"text_model." + k: v for k, v in sd.items()}


def clip_to_original(model, prefix: str) -> dict[str, torch.Tensor]:
    """HF CLIP-L -> `<prefix>text_model.*` (SD1: cond_stage_model.transformer.)."""
    out = {prefix + k: v for k, v in _text_sd(model).items()}
    out[prefix + "text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    return out


def open_clip_to_original(model, prefix: str, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """HF CLIP (H, or G with projection) -> OpenCLIP text tower keys under `prefix`."""
    sd = _text_sd(model)
    t = "text_model."
    hidden = sd[t + "embeddings.token_embedding.weight"].shape[1]
    out = {"token_embedding.weight": sd[t + "embeddings.token_embedding.weight"],
           "positional_embedding": sd[t + "embeddings.position_embedding.weight"],
           "ln_final.weight": sd[t + "final_layer_norm.weight"], "ln_final.bias": sd[t + "final_layer_norm.bias"],
           "logit_scale": torch.tensor(4.6052)}
    if "text_projection.weight" in sd:
        out["text_projection"] = sd["text_projection.weight"].T
    else:  # SD2 files carry an (unused) projection too
        out["text_projection"] = torch.randn(hidden, hidden, generator=gen) * 0.02
    for i in range(model.config.num_hidden_layers):
        src, dst = f"{t}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for w in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{w}"] = torch.cat([sd[f"{src}self_attn.{q}_proj.{w}"] for q in "qkv"])
            for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
                         ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                out[f"{dst}{a}.{w}"] = sd[f"{src}{b}.{w}"]
    return {prefix + k: v for k, v in out.items()}


def original_state_dict(parts: dict[str, Any], family: ModelFamily, v_pred: bool = False) -> dict[str, torch.Tensor]:
    """All parts in one original-layout state dict, as a ComfyUI checkpoint holds them."""
    family = ModelFamily(family)
    gen = torch.Generator().manual_seed(1234)
    sd = unet_to_original(parts["unet"])
    sd.update({"first_stage_model." + k: v for k, v in vae_to_original(parts["vae"]).items()})
    if family == ModelFamily.SD1:
        sd.update(clip_to_original(parts["text_encoder"], "cond_stage_model.transformer."))
    elif family == ModelFamily.SD2:
        sd.update(open_clip_to_original(parts["text_encoder"], "cond_stage_model.model.", gen))
    else:
        sd.update(clip_to_original(parts["text_encoder"], "conditioner.embedders.0.transformer."))
        sd.update(open_clip_to_original(parts["text_encoder_2"], "conditioner.embedders.1.model.", gen))
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    sd["alphas_cumprod"] = torch.cumprod(1 - betas, 0)  # LDM buffers ride along in real files
    if v_pred:
        sd["v_pred"] = torch.tensor([])
    return {k: v.detach().clone().contiguous() for k, v in sd.items()}


def write_original_checkpoint(
    parts: dict[str, Any], family: ModelFamily, path: Union[str, os.PathLike], v_pred: bool = False
) -> Path:
    """Save the parts as one original-layout file: .safetensors, or a torch pickle for
    .ckpt/.pt (`{"state_dict": ...}` like Lightning checkpoints)."""
    from safetensors.torch import save_file

    path = Path(path)
    sd = original_state_dict(parts, family, v_pred)
    if path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd, "global_step": 1}, str(path))
    return path


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
    path: Union[str, os.PathLike], family: ModelFamily = ModelFamily.SD1, seed: int = 0, v_pred: bool = False
) -> Path:
    """Build and save a tiny checkpoint in one call; `path` is a file, or a folder to put
    `tiny_<family>.safetensors` in. Returns the file's path."""
    family = ModelFamily(family)
    path = Path(path)
    if path.is_dir():
        path = path / f"tiny_{family.value}.safetensors"
    pred = PredictionType.V_PREDICTION if v_pred else PredictionType.EPSILON
    parts = build_tiny_diffusers_parts(family, seed=seed, prediction_type=pred)
    return write_original_checkpoint(parts, family, path, v_pred=v_pred)
