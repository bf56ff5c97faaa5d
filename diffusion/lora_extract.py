"""A LoRA file from a model difference (ComfyUI's LoraSave), by SVD of each weight.

The input is a MODEL / CLIP value whose weights, as it computes them, are a difference
(ModelMergeSubtract's output). Keys follow ComfyUI's own layout, which ComfyUI and this
app's LoRA loader both read: `diffusion_model.<original-layout module>` for the UNet and
`text_encoders.clip_<l|g|h>.transformer.<module>` for text encoders, with
`.lora_up.weight` / `.lora_down.weight` (no alpha: scale 1), `.diff` for full differences
(1-D weights, or every weight with lora_type "full_diff") and `.diff_b` for biases.

Like ComfyUI, a truncated factorisation has its factors clamped at the 99th percentile of
their entries (it trims outliers of the approximation); a rank that covers the whole
matrix is exact, so nothing is clamped then and the file reproduces the difference.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Optional

import torch

from .key_patches import clip_key_names, unet_key_names
from .merging import effective_weights

if TYPE_CHECKING:  # pragma: no cover
    from .model import DiffusionModel
    from .text_encoder import TextEncoder

log = logging.getLogger(__name__)

LORA_TYPES = ("standard", "full_diff")
CLAMP_QUANTILE = 0.99
UNET_LORA_PREFIX = "diffusion_model."
TEXT_LORA_PREFIX = "text_encoders."


def _quantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """torch.quantile's linear interpolation, for tensors of any size."""
    ordered = values.flatten().sort().values
    position = q * (ordered.numel() - 1)
    low = int(position)
    high = min(low + 1, ordered.numel() - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def extract_lora(diff: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(up, down) with `up @ down` the best rank-`rank` approximation of `diff` (a linear
    [out, in] or conv [out, in, kh, kw] weight); conv factors come as [out, r, 1, 1] and
    [r, in, kh, kw]."""
    out_dim = diff.shape[0]
    matrix = diff.float().reshape(out_dim, -1)
    full_rank = min(matrix.shape)
    rank = max(1, min(int(rank), full_rank))
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    up = u[:, :rank] * s[:rank]
    down = vh[:rank, :]
    if rank < full_rank:
        high = _quantile(torch.cat([up.flatten(), down.flatten()]), CLAMP_QUANTILE)
        up, down = up.clamp(-high, high), down.clamp(-high, high)
    if diff.ndim == 4:
        up = up.reshape(out_dim, rank, 1, 1)
        down = down.reshape(rank, *diff.shape[1:])
    return up, down


def _saved(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", torch.float16).contiguous()


def lora_entries(weights: Iterable[tuple[str, torch.Tensor]], prefix: str, rank: int, lora_type: str,
                 bias_diff: bool, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add the entries for (ComfyUI key, difference) pairs to `out`, keys under `prefix`."""
    if lora_type not in LORA_TYPES:
        raise ValueError(f"unknown lora_type {lora_type!r} (known: {', '.join(LORA_TYPES)})")
    for key, diff in weights:
        if key.endswith(".weight"):
            module = prefix + key[: -len(".weight")]
            if lora_type == "full_diff" or diff.ndim < 2:
                if lora_type == "full_diff" or bias_diff:
                    out[module + ".diff"] = _saved(diff)
                continue
            try:
                up, down = extract_lora(diff, rank)
            except (RuntimeError, ValueError) as exc:  # torch.linalg errors (a NaN difference)
                log.warning("LoraSave: no LoRA for %s: %s", key, exc)
                continue
            out[module + ".lora_up.weight"] = _saved(up)
            out[module + ".lora_down.weight"] = _saved(down)
        elif bias_diff and key.endswith(".bias"):
            out[prefix + key[: -len(".bias")] + ".diff_b"] = _saved(diff)
    return out


def model_differences(model: "DiffusionModel") -> Iterable[tuple[str, torch.Tensor]]:
    """(diffusion_model.* key, weight as the value computes it), one at a time."""
    names = {param: key for key, param in unet_key_names(model.unet).items()}
    for param, value in effective_weights(model.unet, model.patches):
        if param in names:
            yield names[param], value


def clip_differences(clip: "TextEncoder") -> Iterable[tuple[str, torch.Tensor]]:
    """(clip_<name>.transformer.* key, weight as the value computes it), one at a time."""
    names = {target: key for key, target in clip_key_names(clip.encoders).items()}
    for spec in clip.encoders:
        for param, value in effective_weights(spec.model, clip.patches_of(spec)):
            key = names.get((spec.name, param))
            if key is not None:
                yield key, value


def extract_lora_state_dict(model_diff: Optional["DiffusionModel"], clip_diff: Optional["TextEncoder"],
                            rank: int, lora_type: str, bias_diff: bool) -> dict[str, torch.Tensor]:
    """The whole LoRA file's tensors for a model and/or text-encoder difference."""
    out: dict[str, torch.Tensor] = {}
    if model_diff is not None:
        weights = ((key[len("diffusion_model."):], value) for key, value in model_differences(model_diff))
        lora_entries(weights, UNET_LORA_PREFIX, rank, lora_type, bias_diff, out)
    if clip_diff is not None:
        lora_entries(clip_differences(clip_diff), TEXT_LORA_PREFIX, rank, lora_type, bias_diff, out)
    return out
