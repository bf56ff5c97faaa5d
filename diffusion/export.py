"""Writing diffusers/transformers modules as one original-layout (LDM) checkpoint.

The original single-file layout is what ComfyUI and most shared checkpoints use, so the
models this project trains ship in it and load through the same loader as any user's
file. The key mapping here is written independently of the loader's (which uses
diffusers' converters), so each checks the other in the tests.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import torch

from diffusion.types import ModelFamily


def _rename(sd: dict[str, torch.Tensor], prefixes: dict[str, str], inner: dict[str, dict[str, str]]) -> dict:
    """Map every key by its longest matching diffusers prefix; `inner` renames the rest of
    the key for some prefixes. Fails if any key is left unmapped."""
    out = {}
    ordered = sorted(prefixes, key=len, reverse=True)
    for key, value in sd.items():
        src = next((p for p in ordered if key.startswith(p)), None)
        if src is None:
            raise KeyError(f"no original-layout name for {key}")
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
    names = unet_ldm_names(unet)
    return {names[k]: v for k, v in unet.state_dict().items()}


def unet_ldm_names(unet) -> dict[str, str]:
    """Diffusers UNet key -> its original-layout key (model.diffusion_model.*); LoRA files
    name their targets either way."""
    n_layers = unet.config.layers_per_block
    prefixes = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
                "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
                "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
                "class_embedding.linear_1.": "label_emb.0.0.", "class_embedding.linear_2.": "label_emb.0.2.",
                "class_embedding.": "label_emb.",
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
    keys = {k: k for k in unet.state_dict()}
    out = _rename(keys, prefixes, {p: UNET_RESNET for p in resnets})
    return {source: "model.diffusion_model." + ldm for ldm, source in out.items()}


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


def open_clip_to_original(model, prefix: str, gen: Optional[torch.Generator] = None) -> dict[str, torch.Tensor]:
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
        out["text_projection"] = (torch.randn(hidden, hidden, generator=gen) * 0.02 if gen is not None
                                  else torch.zeros(hidden, hidden))
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
    elif "text_encoder" not in parts:  # SDXL's refiner: OpenCLIP-G alone, first in the list
        sd.update(open_clip_to_original(parts["text_encoder_2"], "conditioner.embedders.0.model.", gen))
    else:
        sd.update(clip_to_original(parts["text_encoder"], "conditioner.embedders.0.transformer."))
        sd.update(open_clip_to_original(parts["text_encoder_2"], "conditioner.embedders.1.model.", gen))
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    sd["alphas_cumprod"] = torch.cumprod(1 - betas, 0)  # LDM buffers ride along in real files
    if v_pred:
        sd["v_pred"] = torch.tensor([])
    return {k: v.detach().clone().contiguous() for k, v in sd.items()}


def write_original_checkpoint(
    parts: dict[str, Any],
    family: ModelFamily,
    path: Union[str, os.PathLike],
    v_pred: bool = False,
    dtype: Optional[torch.dtype] = None,
) -> Path:
    """Save the parts as one original-layout file: .safetensors, or a torch pickle for
    .ckpt/.pt (`{"state_dict": ...}` like Lightning checkpoints). `dtype` (e.g. fp16)
    converts the floating-point weights, halving the file."""
    from safetensors.torch import save_file

    path = Path(path)
    sd = original_state_dict(parts, family, v_pred)
    if dtype is not None:
        sd = {k: (v.to(dtype) if v.is_floating_point() and k != "alphas_cumprod" else v) for k, v in sd.items()}
    if path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd, "global_step": 1}, str(path))
    return path
