"""Telling SD1, SD2 and SDXL checkpoints apart from their keys and shapes.

Works on original-layout (LDM / ComfyUI) single-file state dicts. The text encoder's key
layout names the family; the cross-attention context width (768 / 1024 / 2048, 1280 for
SDXL's refiner) confirms it for full-size models and decides it when the file has no text
encoder. Two variants share a family's text encoder but not its UNet inputs: SDXL's
refiner (OpenCLIP-G alone, five size/score embeddings) and SD2's x4 upscaler (a class
embedding for the noise level, the low-resolution image as three more input channels).
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Optional, Union

import torch

from .types import ModelFamily, PredictionType

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."  # then text_model.* (HF CLIP layout)
SD2_CLIP_PREFIX = "cond_stage_model.model."  # OpenCLIP layout
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."  # then text_model.*
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."  # OpenCLIP layout
SDXL_REFINER_CLIP_G_PREFIX = "conditioner.embedders.0.model."  # the refiner's only encoder
V_PRED_KEY = "v_pred"

CONTEXT_WIDTHS = {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 2048: ModelFamily.SDXL, 1280: ModelFamily.SDXL}
SDXL_ADM_CHANNELS = 2816
SDXL_REFINER_ADM_CHANNELS = 2560
SDXL_SIZE_IDS, SDXL_REFINER_SIZE_IDS = 6, 5  # (h, w, crop_h, crop_w, target_h, target_w) / (..., score)
LATENT_SCALES = {ModelFamily.SD1: 0.18215, ModelFamily.SD2: 0.18215, ModelFamily.SDXL: 0.13025}

StateDict = Mapping[str, torch.Tensor]


def describe_keys(sd: StateDict, depth: int = 2, limit: int = 8) -> str:
    """A short summary of the key prefixes of a state dict, for error messages."""
    counts = Counter(".".join(k.split(".")[:depth]) for k in sd)
    if not counts:
        return "no keys at all"
    parts = [f"{p}.* ({n})" for p, n in counts.most_common(limit)]
    more = f", and {len(counts) - limit} more prefixes" if len(counts) > limit else ""
    return ", ".join(parts) + more


def context_width(sd: StateDict) -> Optional[int]:
    """Input width of the UNet's cross-attention keys (the text context size), or None."""
    for key, value in sd.items():
        if key.startswith(UNET_PREFIX) and key.endswith("attn2.to_k.weight"):
            return int(value.shape[1])
    return None


def adm_channels(sd: StateDict) -> Optional[int]:
    """Input width of the UNet's label/ADM embedding (2816 in SDXL), or None."""
    weight = sd.get(UNET_PREFIX + "label_emb.0.0.weight")
    return None if weight is None else int(weight.shape[1])


def _has_prefix(sd: StateDict, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in sd)


def is_sdxl_refiner(sd: StateDict) -> bool:
    """SDXL's refiner: its one text encoder (OpenCLIP-G) sits where the base keeps CLIP-L."""
    return _has_prefix(sd, SDXL_REFINER_CLIP_G_PREFIX)


def is_x4_upscaler(sd: StateDict) -> bool:
    """SD2's x4 upscaler: a UNet with a class embedding table (the noise level) instead of
    an ADM projection."""
    weight = sd.get(UNET_PREFIX + "label_emb.weight")
    return weight is not None and weight.ndim == 2


def size_ids_for(adm: Optional[int], context: Optional[int], time_dim: int = 256) -> int:
    """Size/score values of an SDXL UNet known only by its widths: a refiner's ADM input is
    its text width plus five embeddings, the base's pooled width plus six."""
    if adm is not None and context is not None and adm == context + SDXL_REFINER_SIZE_IDS * time_dim:
        return SDXL_REFINER_SIZE_IDS
    return SDXL_SIZE_IDS


def sdxl_size_ids(sd: StateDict, context: Optional[int] = None, time_dim: int = 256) -> int:
    """How many size/score values an SDXL UNet embeds: five for the refiner, else six."""
    if is_sdxl_refiner(sd):
        return SDXL_REFINER_SIZE_IDS
    return size_ids_for(adm_channels(sd), context, time_dim)


def text_encoder_layout(sd: StateDict) -> Optional[ModelFamily]:
    """The family whose text-encoder key layout the file uses, or None without one."""
    if is_sdxl_refiner(sd):
        return ModelFamily.SDXL
    if _has_prefix(sd, SDXL_CLIP_G_PREFIX) or _has_prefix(sd, SDXL_CLIP_L_PREFIX + "text_model."):
        return ModelFamily.SDXL
    if _has_prefix(sd, SD2_CLIP_PREFIX + "transformer.resblocks."):
        return ModelFamily.SD2
    if _has_prefix(sd, SD1_CLIP_PREFIX):  # text_model.*, or embeddings.* from old transformers
        return ModelFamily.SD1
    return None


def detect_family(sd: StateDict) -> ModelFamily:
    """The family of an original-layout checkpoint; ValueError naming what was found otherwise."""
    if not _has_prefix(sd, UNET_PREFIX):
        raise ValueError(
            f"not a Stable Diffusion checkpoint: no UNet weights under {UNET_PREFIX!r} "
            f"(found {describe_keys(sd)})"
        )
    width, adm = context_width(sd), adm_channels(sd)
    if width is None:
        raise ValueError(f"unrecognised UNet: no cross-attention (attn2.to_k) weights (found {describe_keys(sd)})")
    by_layout = text_encoder_layout(sd)
    by_width = CONTEXT_WIDTHS.get(width)
    found = f"context width {width}, ADM input {adm}, text encoder layout {by_layout and by_layout.value}"
    family = by_layout or by_width
    if family is None:
        raise ValueError(f"unrecognised checkpoint family ({found}); expected context 768, 1024 or 2048")
    if by_width is not None and by_layout is not None and by_width != by_layout:
        raise ValueError(f"inconsistent checkpoint: {found}")
    if family == ModelFamily.SDXL and adm is None:
        raise ValueError(f"unrecognised SDXL-like checkpoint without label_emb ({found})")
    expected_adm = SDXL_REFINER_ADM_CHANNELS if width == 1280 else SDXL_ADM_CHANNELS
    if family == ModelFamily.SDXL and by_width is not None and adm != expected_adm:
        raise ValueError(f"unsupported SDXL variant ({found}); expected ADM input {expected_adm}")
    if family != ModelFamily.SDXL and adm is not None:
        raise ValueError(f"unsupported {family.value} variant with a class/ADM embedding ({found})")
    return family


def detect_prediction_type(
    sd: StateDict, override: Union[PredictionType, str, None] = None
) -> PredictionType:
    """v-prediction when the file carries a `v_pred` key (ComfyUI's marker) or is the x4
    upscaler (trained on v only), else epsilon; an explicit override wins (SD2 768-v files
    carry no marker)."""
    if override is not None:
        return PredictionType(override)
    v = V_PRED_KEY in sd or is_x4_upscaler(sd)
    return PredictionType.V_PREDICTION if v else PredictionType.EPSILON
