"""Kohya's deep shrink (ComfyUI's PatchModelAddDownscale): during the first part of
sampling the UNet's features are downscaled after one encoder block, so a model trained at
512 composes a large image as if it were small; the decoder scales them back up where they
meet the skips.

Input blocks are numbered as in the original UNet: 0 is the first convolution, then each
level's layers (ResNet, with its attention if any) and its downsampler. "After the skip"
means the skip connection keeps the full-size features and only the path going on is
downscaled.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F

from .latent_resize import bislerp
from .output_block_patch import OutputBlockPatch
from .regions import percent_to_sigma
from .unet_patches import current_step

RESIZE_METHODS = ("bicubic", "nearest-exact", "bilinear", "area", "bislerp")


def resize_features(x: torch.Tensor, height: int, width: int, method: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (height, width):
        return x
    if method == "bislerp":
        return bislerp(x, width, height)
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}")
    align = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    return F.interpolate(x, size=(height, width), mode=method, **align)


def input_block_stages(unet: torch.nn.Module) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """For each original input block: (the module whose output it is, the module that
    takes that output next)."""
    producers: list[torch.nn.Module] = [unet.conv_in]
    consumers: list[torch.nn.Module] = []
    for block in unet.down_blocks:
        attentions = getattr(block, "attentions", None)
        for number, resnet in enumerate(block.resnets):
            consumers.append(resnet)
            producers.append(attentions[number] if attentions else resnet)
        for downsampler in getattr(block, "downsamplers", None) or []:
            consumers.append(downsampler)
            producers.append(downsampler)
    consumers.append(unet.mid_block)
    return list(zip(producers, consumers))


def _replace_first(value: Any, tensor: torch.Tensor) -> Any:
    """A module output (tensor, tuple or diffusers output object) with its features replaced."""
    if isinstance(value, torch.Tensor):
        return tensor
    if isinstance(value, tuple):
        return (tensor, *value[1:])
    value.sample = tensor
    return value


def _first(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return value[0] if isinstance(value, tuple) else value.sample


class DeepShrinkPatch:
    name = "deep_shrink"

    def __init__(self, block_number: int, factor: float, start_percent: float, end_percent: float,
                 after_skip: bool, downscale_method: str, upscale_method: str) -> None:
        self.block_number, self.factor = int(block_number), float(factor)
        self.start_percent, self.end_percent = float(start_percent), float(end_percent)
        self.after_skip = bool(after_skip)
        self.downscale_method, self.upscale_method = downscale_method, upscale_method

    def active(self) -> bool:
        state = current_step()
        if state is None:
            return False
        start = percent_to_sigma(self.start_percent, state.model_sigmas)
        end = percent_to_sigma(self.end_percent, state.model_sigmas)
        return end <= state.sigma_max <= start

    def _shrunk(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return resize_features(x, round(height / self.factor), round(width / self.factor), self.downscale_method)

    def _match_skip(self, h: torch.Tensor, hsp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """At a decoder join: h scaled to the size of the skip it meets."""
        if tuple(h.shape[-2:]) != tuple(hsp.shape[-2:]):
            h = resize_features(h, *hsp.shape[-2:], self.upscale_method)
        return h, hsp

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        stages = input_block_stages(unet)
        if not 0 <= self.block_number < len(stages):
            raise ValueError(f"PatchModelAddDownscale: block_number {self.block_number} is not an input block "
                             f"of this UNet (0..{len(stages) - 1})")
        producer, consumer = stages[self.block_number]
        handle: Optional[Any] = None
        if self.after_skip:
            def before_next(module: Any, args: tuple, kwargs: dict) -> Optional[tuple]:
                if not self.active():
                    return None
                if args:
                    return (self._shrunk(args[0]), *args[1:]), kwargs
                key = "hidden_states" if "hidden_states" in kwargs else "input_tensor"
                return args, {**kwargs, key: self._shrunk(kwargs[key])}

            handle = consumer.register_forward_pre_hook(before_next, with_kwargs=True)
        else:
            def after_block(module: Any, args: tuple, output: Any) -> Any:
                if not self.active():
                    return None
                return _replace_first(output, self._shrunk(_first(output)))

            handle = producer.register_forward_hook(after_block)
        try:
            with OutputBlockPatch(self.name, self._match_skip).applied(unet):
                yield
        finally:
            handle.remove()
