"""ComfyUI's `comfy.sampler_helpers`: masks and conditioning preparation around sampling."""
from __future__ import annotations

from typing import Any, Optional

import torch

from comfy.utils import reshape_mask


def prepare_mask(noise_mask: torch.Tensor, shape: Any, device: Any) -> torch.Tensor:
    return reshape_mask(noise_mask, shape).to(device)


def convert_cond(cond: list) -> list[dict]:
    """CONDITIONING [[embedding, extras], ...] as ComfyUI's per-entry dicts."""
    out = []
    for embedding, extras in cond:
        entry = dict(extras or {})
        if embedding is not None:
            entry["cross_attn"] = embedding
        entry["model_conds"] = {}
        out.append(entry)
    return out


def get_additional_models(conds: Any, dtype: Any) -> tuple[list, int]:
    return [], 0


def prepare_sampling(model: Any, noise_shape: Any, conds: Any, model_options: Optional[dict] = None):
    return model, conds, []


def cleanup_models(conds: Any, models: Any) -> None:
    pass


def cleanup_additional_models(models: Any) -> None:
    pass


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
