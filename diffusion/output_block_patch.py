"""Patches on the UNet's decoder skips: where each output block joins the upsampled features
`h` with the encoder's skip `hsp`, a function may change both first (ComfyUI's
output_block_patch; FreeU is one).

In diffusers' UNet that join is the input of each ResNet of an up block: cat([h, hsp]).
The patch wraps those ResNets' forwards, splits their input back into the two parts, calls
the function and joins the result; leaving the context puts the forwards back.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

from .cfg_patches import fourier_filter

BlockFunction = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_MISSING = object()


def up_block_resnets(unet: torch.nn.Module) -> list[tuple[torch.nn.Module, int]]:
    """Each up-block ResNet with the number of its input channels that are `h` (the rest
    are the skip)."""
    widths = list(reversed(unet.config.block_out_channels))
    found, previous = [], widths[0]
    for index, block in enumerate(unet.up_blocks):
        out_channels = widths[index]
        for number, resnet in enumerate(block.resnets):
            h_channels = previous if number == 0 else out_channels
            total = int(resnet.conv1.in_channels)
            if not 0 < h_channels < total:
                raise ValueError(f"up block {index} ResNet {number}: {total} input channels, cannot hold "
                                 f"{h_channels} of upsampled features and a skip")
            found.append((resnet, h_channels))
        previous = out_channels
    return found


class OutputBlockPatch:
    """Runs `fn(h, hsp) -> (h, hsp)` at every decoder join while the context is open."""

    def __init__(self, name: str, fn: BlockFunction) -> None:
        self.name, self.fn = name, fn

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        saved = []
        try:
            for resnet, h_channels in up_block_resnets(unet):
                saved.append((resnet, resnet.__dict__.get("forward", _MISSING)))
                resnet.forward = self._wrapped(resnet.forward, h_channels)
            yield
        finally:
            for resnet, before in reversed(saved):
                if before is _MISSING:
                    resnet.__dict__.pop("forward", None)
                else:
                    resnet.forward = before

    def _wrapped(self, forward: Callable, h_channels: int) -> Callable:
        def patched_forward(input_tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            h, hsp = self.fn(input_tensor[:, :h_channels], input_tensor[:, h_channels:])
            return forward(torch.cat([h, hsp], dim=1), *args, **kwargs)

        return patched_forward


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
