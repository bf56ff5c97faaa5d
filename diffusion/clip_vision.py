"""CLIP vision encoders (the CLIP_VISION socket): loading and image encoding.

Files come in two layouts: transformers' (``vision_model.*`` + ``visual_projection.weight``,
which is also ComfyUI's) and OpenCLIP/OpenAI's (``visual.conv1``, ``visual.transformer.
resblocks.*``, as inside unCLIP checkpoints). Both become a transformers
CLIPVisionModelWithProjection built from the shipped ViT-L/14, ViT-H/14 or ViT-bigG/14
config (diffusion/configs/clip_vision/) with the sizes read from the weights, so smaller
models of the same architecture load too.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
import torch.nn.functional as F

from .memory_manager import MANAGER
from .checkpoint_io import read_state_dict
from .device import default_device, default_dtype
from .families import StateDict, describe_keys

CONFIG_DIR = Path(__file__).parent / "configs" / "clip_vision"
HF_PREFIX = "vision_model."
# Depth -> the full-size config it belongs to; other depths use ViT-L's activation.
CONFIG_BY_DEPTH = {24: "vit_l14", 32: "vit_h14", 48: "vit_bigg14"}
HEAD_CHANNELS = 64


class ClipVisionOutput:
    """What CLIPVisionEncode gives: `image_embeds` [B,P] (projected pooled output),
    `last_hidden_state` [B,T,D] and `penultimate_hidden_states` [B,T,D]; readable as
    attributes or items, as custom nodes do both."""

    def __init__(self, **values: torch.Tensor):
        self.__dict__.update(values)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__


def load_base_config(name: str) -> dict[str, Any]:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


def _layers(sd: StateDict, pattern: str) -> int:
    found = {int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m}
    return max(found) + 1 if found else 0


def _need(sd: StateDict, key: str) -> torch.Tensor:
    if key not in sd:
        raise ValueError(f"not a CLIP vision model: no {key} (found {describe_keys(sd)})")
    return sd[key]


def open_clip_to_hf(sd: StateDict, prefix: str) -> dict[str, torch.Tensor]:
    """An OpenCLIP/OpenAI visual tower under `prefix` -> transformers vision keys."""
    own = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    out: dict[str, torch.Tensor] = {}
    direct = {"class_embedding": "embeddings.class_embedding", "conv1.weight": "embeddings.patch_embedding.weight",
              "positional_embedding": "embeddings.position_embedding.weight",
              "ln_pre.weight": "pre_layrnorm.weight", "ln_pre.bias": "pre_layrnorm.bias",
              "ln_post.weight": "post_layernorm.weight", "ln_post.bias": "post_layernorm.bias"}
    for src, dst in direct.items():
        if src in own:
            out[HF_PREFIX + dst] = own[src]
    if "proj" in own:
        out["visual_projection.weight"] = own["proj"].t().contiguous()
    renames = (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
               ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"))
    for i in range(_layers(own, r"transformer\.resblocks\.(\d+)\.")):
        src, dst = f"transformer.resblocks.{i}.", f"{HF_PREFIX}encoder.layers.{i}."
        for w in ("weight", "bias"):
            q, k, v = own[f"{src}attn.in_proj_{w}"].chunk(3, dim=0)
            for name, part in zip("qkv", (q, k, v)):
                out[f"{dst}self_attn.{name}_proj.{w}"] = part.contiguous()
            for a, b in renames:
                out[f"{dst}{b}.{w}"] = own[f"{src}{a}.{w}"]
    return out


def hf_vision_weights(sd: StateDict, prefix: str = "") -> dict[str, torch.Tensor]:
    """The transformers-layout vision weights of a file, whichever layout it uses;
    `prefix` is where the tower sits in a bigger file (e.g. an unCLIP checkpoint's
    ``embedder.model.visual.``)."""
    if f"{prefix}transformer.resblocks.0.attn.in_proj_weight" in sd:
        return open_clip_to_hf(sd, prefix)
    if not prefix and "visual.transformer.resblocks.0.attn.in_proj_weight" in sd:
        return open_clip_to_hf(sd, "visual.")
    own = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    keep = {k: v for k, v in own.items() if k.startswith(HF_PREFIX) or k == "visual_projection.weight"}
    keep.pop(HF_PREFIX + "embeddings.position_ids", None)
    return keep


def vision_config(sd: StateDict) -> dict[str, Any]:
    """CLIPVisionConfig kwargs: the sizes from the weights, the rest from the full-size
    config of the same depth."""
    patch = _need(sd, HF_PREFIX + "embeddings.patch_embedding.weight")
    positions = _need(sd, HF_PREFIX + "embeddings.position_embedding.weight")
    fc1 = _need(sd, HF_PREFIX + "encoder.layers.0.mlp.fc1.weight")
    depth = _layers(sd, re.escape(HF_PREFIX) + r"encoder\.layers\.(\d+)\.")
    config = load_base_config(CONFIG_BY_DEPTH.get(depth, "vit_l14"))
    hidden = int(patch.shape[0])
    grid = math.isqrt(int(positions.shape[0]) - 1)
    proj = sd.get("visual_projection.weight")
    heads = config["num_attention_heads"] if hidden == config["hidden_size"] else max(1, hidden // HEAD_CHANNELS)
    config.update(hidden_size=hidden, patch_size=int(patch.shape[-1]), image_size=grid * int(patch.shape[-1]),
                  intermediate_size=int(fc1.shape[0]), num_hidden_layers=depth, num_attention_heads=heads,
                  num_channels=int(patch.shape[1]),
                  projection_dim=int(proj.shape[0]) if proj is not None else hidden)
    return config


class ClipVision:
    """A loaded CLIP vision tower (CLIPVisionModelWithProjection) and its preprocessing."""

    def __init__(self, model: torch.nn.Module, config: Mapping[str, Any], device: torch.device, dtype: torch.dtype):
        self.model = model.eval().requires_grad_(False)
        self.image_size = int(config.get("image_size", 224))
        self.image_mean = list(config.get("image_mean", load_base_config("vit_l14")["image_mean"]))
        self.image_std = list(config.get("image_std", load_base_config("vit_l14")["image_std"]))
        self.device = device
        self.dtype = dtype

    def get_sd(self) -> dict[str, torch.Tensor]:
        """Weights in transformers/ComfyUI key layout."""
        return self.model.state_dict()

    def encode_image(self, image: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
        """Encode IMAGE [B,H,W,C] 0..1; `crop` centre-crops after resizing the short side
        (else the image is squashed to the square input size)."""
        pixels = preprocess(image, self.image_size, self.image_mean, self.image_std, crop)
        with torch.inference_mode(), MANAGER.using([self.model], "clip_vision"):
            out = self.model(pixel_values=pixels.to(self.device, self.dtype), output_hidden_states=True)
        return ClipVisionOutput(
            image_embeds=out.image_embeds.float().cpu(),
            last_hidden_state=out.last_hidden_state.float().cpu(),
            penultimate_hidden_states=out.hidden_states[-2].float().cpu(),
        )


def preprocess(image: torch.Tensor, size: int, mean: list[float], std: list[float], crop: bool = True) -> torch.Tensor:
    """IMAGE [B,H,W,C] -> normalised pixels [B,3,size,size]: bicubic (antialiased) resize,
    centre crop when `crop`, 8-bit quantisation, then CLIP's mean/std."""
    pixels = image[..., :3].movedim(-1, 1).float()
    h, w = pixels.shape[-2:]
    if (h, w) != (size, size):
        if crop:
            scale = size / min(h, w)
            target = (round(scale * h), round(scale * w))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (pixels.shape[-2] - size) // 2, (pixels.shape[-1] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]
    pixels = (pixels * 255.0).clamp(0, 255).round() / 255.0
    mean_t = torch.tensor(mean, dtype=pixels.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - mean_t) / std_t


def clip_vision_from_state_dict(
    sd: StateDict, prefix: str = "", *, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None,
) -> ClipVision:
    """A ClipVision from a state dict in either layout (the tower under `prefix`)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .loader import instantiate

    device = torch.device(device) if device is not None else default_device()
    dtype = dtype if dtype is not None else default_dtype(device)
    weights = hf_vision_weights(sd, prefix)
    config = vision_config(weights)
    if "visual_projection.weight" not in weights:
        raise ValueError("CLIP vision model without a projection (visual_projection.weight / proj)")
    hf_config = CLIPVisionConfig(**{k: v for k, v in config.items() if k not in ("image_mean", "image_std",
                                                                                 "model_type")})
    model = instantiate(lambda: CLIPVisionModelWithProjection(hf_config), weights, dtype, "CLIP vision")
    return ClipVision(MANAGER.place(model, device), config, device, dtype)


def load_clip_vision(path: Union[str, os.PathLike], **kwargs: Any) -> ClipVision:
    """Load a CLIP vision file (models/clip_vision)."""
    try:
        return clip_vision_from_state_dict(read_state_dict(path), **kwargs)
    except ValueError as exc:
        raise ValueError(f"{Path(path).name}: {exc}") from exc
