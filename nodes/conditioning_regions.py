"""Conditioning nodes that set where, when and how strongly a prompt applies, and that mix
prompts (ComfyUI names, inputs and extras keys: area, strength, mask, mask_strength,
set_area_to_bounds, start_percent, end_percent)."""
from __future__ import annotations

import logging

import torch

from .latent import LATENT_DOWNSCALE, MAX_RESOLUTION
from .registry import Node, register_node
from .spec import Combo, Float, Int, Output, Socket

log = logging.getLogger(__name__)
CONDITIONING = (Output("CONDITIONING", "CONDITIONING"),)


def with_values(conditioning: list, values: dict) -> list:
    """A copy of every entry with `values` set in its extras; the input is left alone."""
    return [[emb, {**(extras or {}), **values}] for emb, extras in conditioning]


def _strength() -> Float:
    return Float(default=1.0, min=0.0, max=10.0, step=0.01)


@register_node("ConditioningSetArea", category="conditioning", display_name="Conditioning (Set Area)")
class ConditioningSetArea(Node):
    """Applies the prompt only inside a rectangle (pixels), where the sampler averages it
    with the other prompts."""

    conditioning = Socket("CONDITIONING")
    width = Int(default=64, min=64, max=MAX_RESOLUTION, step=8)
    height = Int(default=64, min=64, max=MAX_RESOLUTION, step=8)
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    strength = _strength()
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list, width: int, height: int, x: int, y: int, strength: float) -> tuple:
        d = LATENT_DOWNSCALE
        area = (height // d, width // d, y // d, x // d)
        return (with_values(conditioning, {"area": area, "strength": strength, "set_area_to_bounds": False}),)


@register_node("ConditioningSetAreaPercentage", category="conditioning",
               display_name="Conditioning (Set Area with Percentage)")
class ConditioningSetAreaPercentage(Node):
    """Like ConditioningSetArea, with the rectangle in fractions of the image size."""

    conditioning = Socket("CONDITIONING")
    width = Float(default=1.0, min=0.0, max=1.0, step=0.01)
    height = Float(default=1.0, min=0.0, max=1.0, step=0.01)
    x = Float(default=0.0, min=0.0, max=1.0, step=0.01)
    y = Float(default=0.0, min=0.0, max=1.0, step=0.01)
    strength = _strength()
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list, width: float, height: float, x: float, y: float,
                strength: float) -> tuple:
        area = ("percentage", height, width, y, x)
        return (with_values(conditioning, {"area": area, "strength": strength, "set_area_to_bounds": False}),)


@register_node("ConditioningSetAreaStrength", category="conditioning",
               display_name="Conditioning (Set Area Strength)")
class ConditioningSetAreaStrength(Node):
    """Sets the prompt's weight in the sampler's average."""

    conditioning = Socket("CONDITIONING")
    strength = _strength()
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list, strength: float) -> tuple:
        return (with_values(conditioning, {"strength": strength}),)


@register_node("ConditioningSetMask", category="conditioning", display_name="Conditioning (Set Mask)")
class ConditioningSetMask(Node):
    """Applies the prompt where the mask is; "mask bounds" predicts only the mask's bounding
    box (faster, and the prompt sees a smaller picture)."""

    conditioning = Socket("CONDITIONING")
    mask = Socket("MASK")
    strength = _strength()
    set_cond_area = Combo(choices=["default", "mask bounds"])
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list, mask: torch.Tensor, strength: float, set_cond_area: str) -> tuple:
        if mask.ndim < 3:
            mask = mask.unsqueeze(0)
        values = {"mask": mask, "set_area_to_bounds": set_cond_area != "default", "mask_strength": strength}
        return (with_values(conditioning, values),)


@register_node("ConditioningConcat", category="conditioning", display_name="Conditioning (Concat)")
class ConditioningConcat(Node):
    """Appends the tokens of conditioning_from (its first entry) to every entry of
    conditioning_to: one prompt made of two encodings."""

    conditioning_to = Socket("CONDITIONING")
    conditioning_from = Socket("CONDITIONING")
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning_to: list, conditioning_from: list) -> tuple:
        if len(conditioning_from) > 1:
            log.warning("ConditioningConcat: conditioning_from has %d entries; only the first is used",
                        len(conditioning_from))
        source = conditioning_from[0][0]
        return ([[torch.cat((emb, source), dim=1), dict(extras or {})] for emb, extras in conditioning_to],)


@register_node("ConditioningAverage", category="conditioning", display_name="Conditioning (Average)")
class ConditioningAverage(Node):
    """Interpolates the embeddings: to * strength + from * (1 - strength) (from padded with
    zeros or cut to to's length); pooled outputs likewise."""

    conditioning_to = Socket("CONDITIONING")
    conditioning_from = Socket("CONDITIONING")
    conditioning_to_strength = Float(default=1.0, min=0.0, max=1.0, step=0.01)
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning_to: list, conditioning_from: list, conditioning_to_strength: float) -> tuple:
        if len(conditioning_from) > 1:
            log.warning("ConditioningAverage: conditioning_from has %d entries; only the first is used",
                        len(conditioning_from))
        source = conditioning_from[0][0]
        pooled_from = (conditioning_from[0][1] or {}).get("pooled_output")
        w = conditioning_to_strength
        out = []
        for emb, extras in conditioning_to:
            extras = dict(extras or {})
            mixed_from = source[:, : emb.shape[1]]
            if mixed_from.shape[1] < emb.shape[1]:
                pad = torch.zeros(mixed_from.shape[0], emb.shape[1] - mixed_from.shape[1], emb.shape[2])
                mixed_from = torch.cat([mixed_from, pad.to(mixed_from)], dim=1)
            pooled_to = extras.get("pooled_output", pooled_from)
            if pooled_from is not None and pooled_to is not None:
                extras["pooled_output"] = pooled_to * w + pooled_from * (1.0 - w)
            elif pooled_from is not None:
                extras["pooled_output"] = pooled_from
            out.append([emb * w + mixed_from * (1.0 - w), extras])
        return (out,)


@register_node("ConditioningZeroOut", category="advanced/conditioning", display_name="ConditioningZeroOut")
class ConditioningZeroOut(Node):
    """Zeros the embeddings and pooled outputs (an "empty" conditioning some models want)."""

    conditioning = Socket("CONDITIONING")
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list) -> tuple:
        out = []
        for emb, extras in conditioning:
            extras = dict(extras or {})
            if extras.get("pooled_output") is not None:
                extras["pooled_output"] = torch.zeros_like(extras["pooled_output"])
            out.append([torch.zeros_like(emb), extras])
        return (out,)


@register_node("ConditioningSetTimestepRange", category="advanced/conditioning",
               display_name="ConditioningSetTimestepRange")
class ConditioningSetTimestepRange(Node):
    """Uses the prompt only between two points of the sampling (0 = first step, 1 = end)."""

    conditioning = Socket("CONDITIONING")
    start = Float(default=0.0, min=0.0, max=1.0, step=0.001)
    end = Float(default=1.0, min=0.0, max=1.0, step=0.001)
    OUTPUTS = CONDITIONING

    def execute(self, ctx, conditioning: list, start: float, end: float) -> tuple:
        return (with_values(conditioning, {"start_percent": start, "end_percent": end}),)
