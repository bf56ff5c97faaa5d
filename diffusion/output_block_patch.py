"""Patches on the UNet's decoder skips: where each output block joins the upsampled features
`h` with the encoder's skip `hsp`, a function may change both first (ComfyUI's
output_block_patch; FreeU and deep shrink use it).

In diffusers' UNet those joins happen inside each up block's loop over its ResNets, just
before cat([h, hsp]). While the patch is applied, each up block runs the same loop with the
function called at every join; leaving the context puts the blocks' own forwards back.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Optional

import torch

from .cfg_patches import fourier_filter

BlockFunction = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_MISSING = object()
_UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D")


def _joined_forward(block: torch.nn.Module, join: BlockFunction) -> Callable[..., torch.Tensor]:
    """The up block's computation (ResNet, then attention where it has one, per skip; then
    its upsampler) with `join` applied to each (h, skip) pair before they are joined."""
    attentions = getattr(block, "attentions", None)

    def forward(hidden_states: torch.Tensor, res_hidden_states_tuple: tuple, temb: Optional[torch.Tensor] = None,
                encoder_hidden_states: Optional[torch.Tensor] = None, cross_attention_kwargs: Optional[dict] = None,
                upsample_size: Any = None, attention_mask: Optional[torch.Tensor] = None,
                encoder_attention_mask: Optional[torch.Tensor] = None, *_: Any, **__: Any) -> torch.Tensor:
        h, skips = hidden_states, tuple(res_hidden_states_tuple)
        for index, resnet in enumerate(block.resnets):
            hsp, skips = skips[-1], skips[:-1]
            h, hsp = join(h, hsp)
            h = resnet(torch.cat([h, hsp], dim=1), temb)
            if attentions is not None:
                h = attentions[index](h, encoder_hidden_states=encoder_hidden_states,
                                      cross_attention_kwargs=cross_attention_kwargs, attention_mask=attention_mask,
                                      encoder_attention_mask=encoder_attention_mask, return_dict=False)[0]
        for upsampler in block.upsamplers or []:
            h = upsampler(h, upsample_size)
        return h

    return forward


class OutputBlockPatch:
    """Runs `fn(h, hsp) -> (h, hsp)` at every decoder join while the context is open."""

    def __init__(self, name: str, fn: BlockFunction) -> None:
        self.name, self.fn = name, fn

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        unknown = [type(b).__name__ for b in unet.up_blocks if type(b).__name__ not in _UP_BLOCKS]
        if unknown:
            raise ValueError(f"{self.name}: cannot patch decoder blocks of type {', '.join(unknown)}")
        saved = []
        try:
            for block in unet.up_blocks:
                saved.append((block, block.__dict__.get("forward", _MISSING)))
                block.forward = _joined_forward(block, self.fn)
            yield
        finally:
            for block, before in reversed(saved):
                if before is _MISSING:
                    block.__dict__.pop("forward", None)
                else:
                    block.forward = before


def _skip_filter(hsp: torch.Tensor, s: float) -> torch.Tensor:
    """The skip's lowest spatial frequencies (the centre 2x2 of the shifted spectrum) times s."""
    return fourier_filter(hsp, scale_low=s, scale_high=1.0, freq_cutoff=1)


def freeu(model_channels: int, b1: float, b2: float, s1: float, s2: float, version: int = 1) -> BlockFunction:
    """FreeU: at joins whose `h` has 4x (b1, s1) or 2x (b2, s2) the first block's channels,
    the first half of h's channels is amplified by b and the skip's low frequencies damped
    by s. Version 2 amplifies by how strong each pixel's mean activation is (min-max
    normalised per image), from 1 up to b."""
    scales = {model_channels * 4: (b1, s1), model_channels * 2: (b2, s2)}

    def join(h: torch.Tensor, hsp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = scales.get(int(h.shape[1]))
        if scale is None:
            return h, hsp
        b, s = scale
        half = h.shape[1] // 2
        factor: Any = b
        if version == 2:
            mean = h.mean(1, keepdim=True)
            flat = mean.flatten(1)
            low = flat.min(dim=1).values.view(-1, 1, 1, 1)
            high = flat.max(dim=1).values.view(-1, 1, 1, 1)
            factor = (b - 1) * (mean - low) / (high - low) + 1
        h = torch.cat([h[:, :half] * factor, h[:, half:]], dim=1)
        return h, _skip_filter(hsp, s)

    return join
