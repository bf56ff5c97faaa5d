"""Loading a checkpoint's parts from separate files: a UNet alone (ComfyUI's diffusion_models
folder) and text encoders alone (text_encoders), as UNETLoader, CLIPLoader and
DualCLIPLoader read them.

A UNet file holds the original layout (input_blocks.*, with or without
model.diffusion_model.) or diffusers' (conv_in.*, down_blocks.*) with its config.json
beside it. A text encoder file holds transformers' CLIP layout (text_model.*, optionally
text_projection) or OpenCLIP's (transformer.resblocks.*). The family follows from the
shapes: SDXL's UNet has the pooled/size embedding (label_emb), SD2's reads 1024-wide text;
a 1280-wide encoder is SDXL's OpenCLIP-G, a 1024-wide one SD2's OpenCLIP-H.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import torch

from . import convert, precision
from .checkpoint_io import read_state_dict
from .families import (
    SDXL_SIZE_IDS,
    UNET_PREFIX,
    StateDict,
    adm_channels,
    context_width,
    describe_keys,
    detect_prediction_type,
    sdxl_size_ids,
    size_ids_for,
)
from .loader import _clip_model, _resolve, _unet_from_single_file, hub_off, instantiate
from .memory_manager import MANAGER
from .model import DiffusionModel
from .types import ModelFamily, PredictionType

if TYPE_CHECKING:  # pragma: no cover
    from .text_encoder import TextEncoder

log = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]
SD1_CONTEXT, SD2_CONTEXT, OPEN_CLIP_H_WIDTH, OPEN_CLIP_G_WIDTH = 768, 1024, 1024, 1280


def unet_family(sd: StateDict) -> ModelFamily:
    """SDXL if the UNet has the ADM (pooled text + size) embedding; SD1 if it reads 768-wide
    text, SD2 if 1024; for other widths SD2 if its transformers project linearly (SD1's use
    1x1 convolutions). `sd` has model.diffusion_model. keys."""
    width = context_width(sd)
    if width is None:
        raise ValueError(f"not a UNet: no cross-attention (attn2.to_k) weights (found {describe_keys(sd)})")
    if adm_channels(sd) is not None:
        return ModelFamily.SDXL
    if width in (SD1_CONTEXT, SD2_CONTEXT):
        return ModelFamily.SD2 if width == SD2_CONTEXT else ModelFamily.SD1
    linear = any(k.startswith(UNET_PREFIX) and k.endswith("proj_in.weight") and v.ndim == 2 for k, v in sd.items())
    return ModelFamily.SD2 if linear else ModelFamily.SD1


def load_unet(path: PathLike, *, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None,
              prediction_type: Union[PredictionType, str, None] = None) -> DiffusionModel:
    """A MODEL from a UNet-only file (or a diffusers unet folder)."""
    hub_off()
    device, dtype = _resolve(device, dtype, "unet")
    path = Path(path)
    if path.is_dir():
        return _diffusers_unet(path, None, device, dtype, prediction_type)
    sd = read_state_dict(path)
    if "conv_in.weight" in sd:
        if not (path.parent / "config.json").is_file():
            raise ValueError(f"{path.name} is a UNet in diffusers' layout: it needs its config.json beside it")
        return _diffusers_unet(path, sd, device, dtype, prediction_type)
    if not any(k.startswith(UNET_PREFIX) for k in sd):
        if "input_blocks.0.0.weight" not in sd:
            raise ValueError(f"{path.name} is not a UNet in the original layout (found {describe_keys(sd)}); "
                             "a diffusers-layout UNet needs its config.json beside it")
        sd = {UNET_PREFIX + k: v for k, v in sd.items()}
    family = unet_family(sd)
    pred = detect_prediction_type(sd, prediction_type)
    unet = MANAGER.place(_unet_from_single_file(sd, family, dtype), device)
    return DiffusionModel(unet, family, pred, device, precision.compute_dtype(dtype, device),
                          size_ids=sdxl_size_ids(sd, context_width(sd)))


def _diffusers_unet(path: Path, sd: Optional[StateDict], device: torch.device, dtype: torch.dtype,
                    prediction_type: Union[PredictionType, str, None]) -> DiffusionModel:
    from diffusers import UNet2DConditionModel

    folder = path if sd is None else path.parent
    config = {k: v for k, v in json.loads((folder / "config.json").read_text()).items() if not k.startswith("_")}
    if sd is None:
        unet = UNet2DConditionModel.from_pretrained(str(folder), local_files_only=True, torch_dtype=dtype)
    else:
        unet = instantiate(lambda: UNet2DConditionModel.from_config(config), dict(sd), dtype, "UNet")
    size_ids = SDXL_SIZE_IDS
    if config.get("addition_embed_type") == "text_time":
        family = ModelFamily.SDXL
        size_ids = size_ids_for(config.get("projection_class_embeddings_input_dim"),
                                config.get("cross_attention_dim"), config["addition_time_embed_dim"])
    else:
        family = ModelFamily.SD2 if config.get("cross_attention_dim") == SD2_CONTEXT else ModelFamily.SD1
    x4 = config.get("num_class_embeds") is not None and config.get("in_channels") == 7
    pred = PredictionType(prediction_type or (PredictionType.V_PREDICTION if x4 else PredictionType.EPSILON))
    return DiffusionModel(MANAGER.place(unet, device).eval().requires_grad_(False), family, pred, device,
                          precision.compute_dtype(dtype, device),
                          size_ids=size_ids)


# -- text encoders ---------------------------------------------------------------------------


class EncoderFile:
    """One text encoder file: its weights in transformers' layout and its width."""

    def __init__(self, path: Path) -> None:
        sd = read_state_dict(path)
        for prefix in ("transformer.", "model."):  # parts saved with their wrapper's prefix
            if not any(k.startswith(("text_model.", "transformer.resblocks.", "token_embedding.")) for k in sd) and \
                    any(k.startswith(prefix) for k in sd):
                sd = convert.strip_prefix(sd, prefix)
        self.name, self.open_clip = path.name, "token_embedding.weight" in sd
        if self.open_clip:
            self.raw = sd
            self.width = int(sd["token_embedding.weight"].shape[1])
        elif "text_model.embeddings.token_embedding.weight" in sd or "embeddings.token_embedding.weight" in sd:
            self.raw = {(k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): v
                        for k, v in sd.items() if not k.endswith("position_ids")}
            self.width = int(self.raw["text_model.embeddings.token_embedding.weight"].shape[1])
        else:
            raise ValueError(f"{path.name} is not a CLIP text encoder (found {describe_keys(sd)})")

    def model(self, family: ModelFamily, part: str, projection: bool, dtype: torch.dtype) -> torch.nn.Module:
        base = convert.load_base_config(family, part)
        if self.open_clip:
            config = convert.open_clip_config(self.raw, "", base)
            weights = convert.convert_open_clip(self.raw, "", config)
        else:
            weights = dict(self.raw)
            config = convert.hf_clip_config(weights, base)
        if projection and "text_projection.weight" not in weights:
            raise ValueError(f"{self.name}: SDXL's second text encoder needs its text_projection weights")
        return _clip_model(config, weights, dtype, projection, f"text encoder {self.name}")


def load_text_encoders(paths: list[PathLike], *, device: Optional[torch.device] = None,
                       dtype: Optional[torch.dtype] = None) -> "TextEncoder":
    """A CLIP value from one file (SD1's CLIP-L or SD2's OpenCLIP-H) or two (SDXL's CLIP-L
    and OpenCLIP-G, in either order: the wider one is G)."""
    from .text_encoder import ClipEncoderSpec, TextEncoder

    hub_off()
    device, dtype = _resolve(device, dtype, "text_encoder")
    files = [EncoderFile(Path(p)) for p in paths]
    encoders: list
    if len(files) == 1:
        (only,) = files
        if only.width == OPEN_CLIP_G_WIDTH:
            raise ValueError(f"{only.name} is SDXL's OpenCLIP-G: load it with DualCLIPLoader beside a CLIP-L")
        if only.width == OPEN_CLIP_H_WIDTH or only.open_clip:
            family = ModelFamily.SD2
            encoders = [ClipEncoderSpec("h", MANAGER.place(only.model(family, "text_encoder", False, dtype), device),
                                        False, -2, True, False)]
        else:
            family = ModelFamily.SD1
            encoders = [ClipEncoderSpec("l", MANAGER.place(only.model(family, "text_encoder", False, dtype), device),
                                        True, -1, True, False)]
    elif len(files) == 2:
        small, large = sorted(files, key=lambda f: f.width)  # stable: equal widths keep the given order
        family = ModelFamily.SDXL
        encoders = [
            ClipEncoderSpec("l", MANAGER.place(small.model(family, "text_encoder", False, dtype), device), True, -2, False, False),
            ClipEncoderSpec("g", MANAGER.place(large.model(family, "text_encoder_2", True, dtype), device), False, -2, False, True),
        ]
    else:
        raise ValueError(f"expected one or two text encoder files, got {len(files)}")
    return TextEncoder(family, encoders, device, dtype)
