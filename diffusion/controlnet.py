"""ControlNet: loading both file layouts, and the residuals it adds to the UNet.

Two layouts are read: the original single file (`control_model.` prefix, or none;
`input_blocks`, `zero_convs`, `input_hint_block`, `middle_block_out`) and diffusers'
ControlNetModel (a folder with config.json, or a file of its state dict). Configs come
from the weights' shapes, as for checkpoints (diffusion/convert.py). A ControlNet applied
to a conditioning is a `ControlHint` chain: each link's residuals, scaled by its strength
and active only in its part of the sampling, are summed and added to the UNet's skips.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F

from . import convert
from .checkpoint_io import read_state_dict
from .memory_manager import MANAGER
from .families import UNET_PREFIX, StateDict, describe_keys
from .t2i_adapter import is_t2i_adapter, load_t2i_adapter
from .types import ModelFamily

LDM_PREFIX = "control_model."
CONTEXT_FAMILIES = {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 2048: ModelFamily.SDXL}


def _family(context_dim: int, sdxl: bool, linear: bool) -> ModelFamily:
    """Family by context width; toy widths by their other traits (heads follow the family)."""
    if context_dim in CONTEXT_FAMILIES:
        return CONTEXT_FAMILIES[context_dim]
    return ModelFamily.SDXL if sdxl else (ModelFamily.SD2 if linear else ModelFamily.SD1)


def _indices(sd: StateDict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd for m in [rx.match(k)] if m})


def _hint_channels(weights: list[torch.Tensor]) -> tuple[int, tuple[int, ...]]:
    """(image channels, conditioning_embedding_out_channels) of the hint encoder's convs,
    in order: conv_in, then pairs (conv, strided conv), then conv_out."""
    outs = [int(w.shape[0]) for w in weights[:-1]]
    return int(weights[0].shape[1]), tuple(outs[0::2])


def _ldm_config(sd: StateDict) -> dict[str, Any]:
    """ControlNetModel kwargs for a prefix-less original-layout ControlNet."""
    # A ControlNet is the UNet's encoder half: read it with the UNet rules (no output conv).
    as_unet = {UNET_PREFIX + k: v for k, v in sd.items()}
    in_channels = int(sd["input_blocks.0.0.weight"].shape[1])
    as_unet[UNET_PREFIX + "out.2.weight"] = torch.empty(in_channels, 0)
    to_k = next(v for k, v in sd.items() if k.endswith("attn2.to_k.weight"))
    linear = next(v for k, v in sd.items() if k.endswith(".1.proj_in.weight")).ndim == 2
    family = _family(int(to_k.shape[1]), "label_emb.0.0.weight" in sd, linear)
    unet = convert.unet_config(as_unet, family)
    hint = [sd[f"input_hint_block.{i}.weight"] for i in _indices(sd, r"input_hint_block\.(\d+)\.weight")]
    channels, embedding = _hint_channels(hint)
    keys = ("in_channels", "down_block_types", "block_out_channels", "layers_per_block", "cross_attention_dim",
            "attention_head_dim", "use_linear_projection", "addition_embed_type", "addition_time_embed_dim",
            "projection_class_embeddings_input_dim", "transformer_layers_per_block")
    config = {k: unet[k] for k in keys if k in unet}
    config.update(conditioning_channels=channels, conditioning_embedding_out_channels=embedding)
    return config


def _diffusers_config(sd: StateDict) -> dict[str, Any]:
    """ControlNetModel kwargs read from a diffusers-layout state dict's shapes."""
    levels = _indices(sd, r"down_blocks\.(\d+)\.")
    widths = [int(sd[f"down_blocks.{i}.resnets.0.conv2.weight"].shape[0]) for i in levels]
    has_attn = [f"down_blocks.{i}.attentions.0.proj_in.weight" in sd for i in levels]
    depth = [len(_indices(sd, rf"down_blocks\.{i}\.attentions\.0\.transformer_blocks\.(\d+)\.")) or 1 for i in levels]
    to_k = next(v for k, v in sd.items() if k.endswith("attn2.to_k.weight"))
    linear = next(v for k, v in sd.items() if k.endswith("proj_in.weight")).ndim == 2
    sdxl = "add_embedding.linear_1.weight" in sd
    family = _family(int(to_k.shape[1]), sdxl, linear)
    blocks = [sd[f"controlnet_cond_embedding.blocks.{i}.weight"]
              for i in _indices(sd, r"controlnet_cond_embedding\.blocks\.(\d+)\.weight")]
    hint = [sd["controlnet_cond_embedding.conv_in.weight"], *blocks, sd["controlnet_cond_embedding.conv_out.weight"]]
    channels, embedding = _hint_channels(hint)
    config: dict[str, Any] = dict(
        in_channels=int(sd["conv_in.weight"].shape[1]),
        conditioning_channels=channels,
        conditioning_embedding_out_channels=embedding,
        block_out_channels=widths,
        down_block_types=["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in has_attn],
        layers_per_block=len(_indices(sd, r"down_blocks\.0\.resnets\.(\d+)\.")),
        cross_attention_dim=int(to_k.shape[1]),
        attention_head_dim=convert.unet_heads(family, widths),
        use_linear_projection=linear,
        transformer_layers_per_block=depth,
    )
    if sdxl:
        adm = int(sd["add_embedding.linear_1.weight"].shape[1])
        time_dim = int(convert.load_base_config(family, "unet")["addition_time_embed_dim"])
        config.update(addition_embed_type="text_time", addition_time_embed_dim=time_dim,
                      projection_class_embeddings_input_dim=adm)
    return config


def _read_config(path: Path) -> dict[str, Any]:
    import json

    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def add_base_weights(sd: StateDict, base: Any) -> dict[str, torch.Tensor]:
    """A "difference" ControlNet's weights made whole: each control_model.X plus the base
    model's diffusion_model.X (the file stores what the ControlNet changed)."""
    from .checkpoint_save import weights_applied
    from .export import unet_to_original

    with weights_applied(base):
        unet_sd = unet_to_original(base.unet)
    out = {}
    for key, value in sd.items():
        if key == "difference":
            continue
        own = unet_sd.get("model.diffusion_model." + key[len(LDM_PREFIX):]) if key.startswith(LDM_PREFIX) else None
        out[key] = value + own.to(value) if own is not None and own.shape == value.shape else value
    return out


def load_controlnet(
    path: Union[str, os.PathLike], device: torch.device, dtype: torch.dtype, base: Any = None
) -> Any:
    """A ControlNet from a diffusers folder, a diffusers-layout file or an original-layout
    file; a "difference" ControlNet needs the MODEL it was made against (`base`). A
    T2I-Adapter file gives a T2IAdapter (diffusion/t2i_adapter.py), as in ComfyUI's loader."""
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    from .loader import hub_off, instantiate

    hub_off()
    path = Path(path)
    if path.is_dir():
        module = ControlNetModel.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype)
        return ControlNet(MANAGER.place(module, device).eval().requires_grad_(False), device, dtype)
    sd = read_state_dict(path)
    if "difference" in sd:
        if base is None:
            raise ValueError(f"{path.name} is a difference ControlNet: load it with DiffControlNetLoader, "
                             "which adds it to a model")
        sd = add_base_weights(sd, base)
    if any(k.startswith(LDM_PREFIX) for k in sd):
        sd = convert.strip_prefix(sd, LDM_PREFIX)
    if "input_hint_block.0.weight" in sd:
        config = _ldm_config(sd)
        weights = convert_controlnet_checkpoint(dict(sd), dict(config))
        for ldm, ours in (("label_emb.0.0", "add_embedding.linear_1"), ("label_emb.0.2", "add_embedding.linear_2")):
            for param in ("weight", "bias"):  # SDXL's size/pooled embedding, which the converter skips
                if f"{ldm}.{param}" in sd:
                    weights.setdefault(f"{ours}.{param}", sd[f"{ldm}.{param}"])
    elif "controlnet_cond_embedding.conv_in.weight" in sd:
        beside = path.parent / "config.json"  # a file from a diffusers folder: trust its config
        config = _read_config(beside) if beside.is_file() else _diffusers_config(sd)
        weights = dict(sd)
    elif is_t2i_adapter(sd):
        return load_t2i_adapter(sd, device, dtype, path.name)
    else:
        raise ValueError(f"{path.name} is not a ControlNet or T2I-Adapter (found {describe_keys(sd)})")
    module = instantiate(lambda: ControlNetModel.from_config(config), weights, dtype, "ControlNet")
    return ControlNet(MANAGER.place(module, device), device, dtype)


class ControlNet:
    """The CONTROL_NET socket value: a loaded ControlNetModel."""

    def __init__(self, module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.module, self.device, self.dtype = module, torch.device(device), dtype
        self.extra_args: dict[str, Any] = {}  # e.g. a union ControlNet's control_type (unused by others)
        self.concat_mask = False  # masked-hint (inpainting) ControlNets take the mask as well

    def with_extra_args(self, **args: Any) -> "ControlNet":
        """A copy sharing the module, with these settings added."""
        import copy

        twin = copy.copy(self)
        twin.extra_args = {**self.extra_args, **args}
        return twin

    def residuals(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, hint: torch.Tensor,
        added: Optional[dict] = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Skip residuals (one per UNet down-block output) and the middle residual, float32."""
        with torch.inference_mode():
            down, mid = self.module(
                x.to(self.device, self.dtype), t.to(self.device),
                encoder_hidden_states=context.to(self.device, self.dtype), controlnet_cond=hint.to(self.device, self.dtype), conditioning_scale=1.0,
                added_cond_kwargs=added, return_dict=False,
            )
        return [d.float() for d in down], mid.float()

    def __repr__(self) -> str:
        return f"ControlNet(device={self.device}, dtype={self.dtype})"


@dataclass(frozen=True, eq=False)
class ControlHint:
    """One ControlNet applied with an image; `previous` chains several (residuals add up)."""

    control_net: ControlNet
    image: torch.Tensor  # IMAGE [B,H,W,3] in 0..1
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: Optional["ControlHint"] = None

    def chain(self) -> list["ControlHint"]:
        links, link = [], self
        while link is not None:
            links.append(link)
            link = link.previous
        return links[::-1]


def hint_for(image: torch.Tensor, height: int, width: int, batch: int) -> torch.Tensor:
    """The hint image [batch,3,height,width] (pixels), resized as ComfyUI does (nearest-exact,
    centre crop to the aspect) and repeated over the batch."""
    pixels = image[..., :3].movedim(-1, 1).float()
    old_h, old_w = pixels.shape[-2:]
    if (old_h, old_w) != (height, width):
        aspect, new_aspect = old_w / old_h, width / height
        if aspect > new_aspect:
            cut = round((old_w - old_w * new_aspect / aspect) / 2)
            pixels = pixels[..., :, cut:old_w - cut]
        elif aspect < new_aspect:
            cut = round((old_h - old_h * aspect / new_aspect) / 2)
            pixels = pixels[..., cut:old_h - cut, :]
        pixels = F.interpolate(pixels, size=(height, width), mode="nearest-exact")
    if pixels.shape[0] != batch:
        pixels = pixels.repeat(-(-batch // pixels.shape[0]), 1, 1, 1)[:batch]
    return pixels
