"""Guidance from a degraded second prediction, made inside the UNet's middle block:
Perturbed-Attention Guidance (self-attention replaced by the identity) and Self-Attention
Guidance (the negative prediction blurred where the middle block's self-attention looks,
then predicted again).

Both install a processor on the middle block's self-attention for as long as the MODEL
samples (a UNetPatch, unet_patches.py) and a post-cfg hook that asks the guider for one
more prediction (`predict_again`, guidance.py).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import math
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F

from .unet_patches import current_step

log = logging.getLogger(__name__)

_PERTURBED: contextvars.ContextVar[bool] = contextvars.ContextVar("perturbed_attention", default=False)


def middle_self_attentions(unet: torch.nn.Module, first_only: bool = False) -> list[torch.nn.Module]:
    """The self-attention (attn1) modules of the middle block's transformer(s)."""
    found = []
    for transformer in getattr(unet.mid_block, "attentions", []):
        for block in getattr(transformer, "transformer_blocks", []):
            found.append(block.attn1)
            if first_only:
                return found
    return found


@contextlib.contextmanager
def processors_wrapped(modules: list[torch.nn.Module], make: Callable[[Any], Any]) -> Iterator[None]:
    """Each module's attention processor replaced by `make(previous)`; restored on leaving."""
    saved = [(module, module.processor) for module in modules]
    try:
        for module, previous in saved:
            module.processor = make(previous)
        yield
    finally:
        for module, previous in saved:
            module.processor = previous


def _finish(attn: Any, out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    out = attn.to_out[1](attn.to_out[0](out))
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


class PerturbableProcessor:
    """Attention as before, except inside `perturbed()`: then each token's output is its own
    value (an identity attention map)."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, attn: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not _PERTURBED.get():
            return self.previous(attn, hidden_states, *args, **kwargs)
        return _finish(attn, attn.to_v(hidden_states), hidden_states)


@contextlib.contextmanager
def perturbed() -> Iterator[None]:
    token = _PERTURBED.set(True)
    try:
        yield
    finally:
        _PERTURBED.reset(token)


class PerturbedAttentionPatch:
    name = "perturbed_attention"

    def applied(self, unet: torch.nn.Module) -> contextlib.AbstractContextManager:
        return processors_wrapped(middle_self_attentions(unet), PerturbableProcessor)


def pag_hook(scale: float) -> Callable[[dict], torch.Tensor]:
    """result + scale * (positive - positive with the middle block's attention perturbed)."""
    warned = []

    def hook(args: dict) -> torch.Tensor:
        result, again = args["denoised"], args.get("predict_again")
        if scale == 0:
            return result
        if again is None:
            if not warned:
                warned.append(True)
                log.warning("PerturbedAttentionGuidance: this guider cannot predict again; PAG is skipped")
            return result
        with perturbed():
            degraded = again(0, args["input"])
        return result + (args["cond_denoised"] - degraded) * scale

    return hook


# -- Self-Attention Guidance -------------------------------------------------------------------


class AttentionRecorder:
    """Keeps the softmax map of the negative rows of the last UNet call's first middle-block
    self-attention ([rows * heads, tokens, tokens])."""

    def __init__(self) -> None:
        self.scores: Optional[torch.Tensor] = None

    def take(self) -> Optional[torch.Tensor]:
        scores, self.scores = self.scores, None
        return scores

    def processor(self, previous: Any) -> Callable[..., torch.Tensor]:
        def record(attn: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            state = current_step()
            kinds = list(state.cond_or_uncond) if state is not None else []
            if 1 not in kinds or kwargs.get("encoder_hidden_states") is not None:
                return previous(attn, hidden_states, *args, **kwargs)
            query = attn.head_to_batch_dim(attn.to_q(hidden_states))
            key = attn.head_to_batch_dim(attn.to_k(hidden_states))
            value = attn.head_to_batch_dim(attn.to_v(hidden_states))
            probs = attn.get_attention_scores(query, key, None)
            rows = hidden_states.shape[0] // len(kinds)
            chunk = rows * attn.heads
            start = kinds.index(1) * chunk
            self.scores = probs[start:start + chunk].detach()
            out = attn.batch_to_head_dim(torch.bmm(probs, value))
            return _finish(attn, out, hidden_states)

        return record


class SelfAttentionRecordPatch:
    name = "self_attention_guidance"

    def __init__(self, recorder: AttentionRecorder) -> None:
        self.recorder = recorder

    def applied(self, unet: torch.nn.Module) -> contextlib.AbstractContextManager:
        self.downsamples = sum(1 for block in unet.down_blocks if getattr(block, "downsamplers", None))
        return processors_wrapped(middle_self_attentions(unet, first_only=True), self.recorder.processor)


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """[B,C,H,W] blurred with a separable Gaussian, edges reflected."""
    half = (kernel_size - 1) * 0.5
    offsets = torch.linspace(-half, half, kernel_size, device=x.device, dtype=torch.float32)
    row = torch.exp(-0.5 * (offsets / sigma) ** 2)
    row = row / row.sum()
    kernel = torch.outer(row, row).to(x.dtype).expand(x.shape[1], 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernel, groups=x.shape[1])


def blur_where_attended(x0: torch.Tensor, scores: torch.Tensor, middle_size: tuple[int, int], sigma: float,
                        threshold: float = 1.0) -> torch.Tensor:
    """x0 blurred where, in the middle block, the tokens receive more than `threshold` of
    the attention (summed over queries, averaged over heads); elsewhere x0 as it is."""
    batch, _, height, width = x0.shape
    tokens = scores.shape[-1]
    received = scores.reshape(batch, -1, tokens, tokens).mean(1).sum(1)  # [B, tokens]
    rows, cols = middle_size
    if rows * cols != tokens:
        raise ValueError(f"middle block has {tokens} tokens, expected {rows}x{cols}")
    mask = (received > threshold).reshape(batch, 1, rows, cols).to(x0.dtype)
    mask = F.interpolate(mask, (height, width))
    blurred = gaussian_blur(x0, 9, sigma)
    return blurred * mask + x0 * (1 - mask)


def middle_size(height: int, width: int, downsamples: int) -> tuple[int, int]:
    """The latent's size after the UNet's stride-2 downsamplers (each rounds up)."""
    for _ in range(downsamples):
        height, width = math.ceil(height / 2), math.ceil(width / 2)
    return height, width


def sag_hook(scale: float, blur_sigma: float, recorder: AttentionRecorder,
             patch: SelfAttentionRecordPatch) -> Callable[[dict], torch.Tensor]:
    """result + scale * (blurred negative - negative predicted again from the blurred one)."""

    def hook(args: dict) -> torch.Tensor:
        result, again = args["denoised"], args.get("predict_again")
        scores = recorder.take()
        if again is None or scores is None or min(result.shape[2:]) <= 4:
            return result
        uncond, x = args["uncond_denoised"], args["input"]
        size = middle_size(*uncond.shape[-2:], getattr(patch, "downsamples", 0))
        degraded = blur_where_attended(uncond, scores.float(), size, blur_sigma).to(uncond)
        redone = again(1, degraded + x - uncond)
        recorder.take()  # the second call's map is not the next step's
        return result + (degraded - redone) * scale

    return hook
