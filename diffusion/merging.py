"""Model and text-encoder merging as weight patches, the way ComfyUI's merge nodes do it.

A merge never writes to either model's tensors: the result is a clone of the first value
whose weights get `w1 * strength_model + strength * w2` while it runs (patching.py), where
`w2` is the second value's weight *with that value's own patches* (a LoRA'd model, or an
earlier merge, merges as what it computes). Weights are paired by ComfyUI's key names
(`diffusion_model.<original-layout name>`, `clip_l.transformer.<name>`), so a pair of
models of the same architecture merges whatever their parameter names are here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import torch

from .key_patches import clip_key_names, unet_key_names
from .patching import DiffPatch

if TYPE_CHECKING:  # pragma: no cover
    from .model import DiffusionModel
    from .text_encoder import TextEncoder

log = logging.getLogger(__name__)

UNET_PREFIX = "diffusion_model."
CLIP_SKIPPED_SUFFIXES = (".position_ids", ".logit_scale")  # ComfyUI's CLIP merges leave these alone

# ComfyUI key -> (patch strength, strength_model), or None to leave that weight as it is
Strengths = Callable[[str], "tuple[float, float] | None"]


@dataclass(frozen=True, eq=False)
class MergedWeightPatch:
    """`weight * strength_model + strength * other`, where `other` is another model's
    weight computed with that model's own patches (ComfyUI's nested key patches)."""

    component: str
    target: str
    tensor: torch.Tensor
    inner: tuple
    strength: float
    strength_model: float = 1.0

    def other_weight(self, device: torch.device) -> torch.Tensor:
        """The other model's weight as it computes: its tensor plus its own patches, float32."""
        other = self.tensor.to(device, torch.float32, copy=True)
        for patch in self.inner:
            other = patch.apply(other, other)
        return other

    def apply(self, total: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        if self.strength_model != 1.0:
            total = total * self.strength_model
        if self.strength == 0.0:
            return total
        return total + self.other_weight(base.device).reshape(base.shape) * self.strength

    def fits(self, param: torch.Tensor) -> bool:
        return self.tensor.numel() == param.numel()


def _sources(module: torch.nn.Module, patches: Sequence) -> dict[str, tuple[torch.Tensor, tuple]]:
    """Each parameter's stored tensor and the patches its value adds to it."""
    by_target: dict[str, list] = {}
    for patch in patches:
        by_target.setdefault(patch.target, []).append(patch)
    return {name: (param.detach(), tuple(by_target.get(name, ())))
            for name, param in module.named_parameters()}


def _patch(component: str, target: str, tensor: torch.Tensor, inner: tuple, strength: float,
           strength_model: float):
    if not inner:
        return DiffPatch(component, target, tensor, strength, strength_model)
    return MergedWeightPatch(component, target, tensor, inner, strength, strength_model)


def _merge_patches(
    keys1: Mapping[str, tuple[str, str]],
    sources1: Mapping[str, Mapping[str, tuple[torch.Tensor, tuple]]],
    keys2: Mapping[str, tuple[str, str]],
    sources2: Mapping[str, Mapping[str, tuple[torch.Tensor, tuple]]],
    strengths: Strengths,
) -> list:
    """Patches for the first value, one per ComfyUI key the two values share."""
    made, mismatched = [], []
    for key, (component2, param2) in keys2.items():
        strength_pair = strengths(key)
        place = keys1.get(key)
        if strength_pair is None or place is None:
            continue
        strength, strength_model = strength_pair
        if strength == 0.0 and strength_model == 1.0:
            continue  # leaves the weight exactly as it is
        component1, param1 = place
        own = sources1.get(component1, {}).get(param1)
        other = sources2.get(component2, {}).get(param2)
        if own is None or other is None:
            continue  # a buffer, not a weight
        if own[0].shape != other[0].shape:
            mismatched.append(key)
            continue
        made.append(_patch(component1, param1, other[0], other[1], strength, strength_model))
    if mismatched:
        log.warning("merge: %d weights differ in shape and were not merged, e.g. %s", len(mismatched), mismatched[:3])
    return made


def merge_models(model1: "DiffusionModel", model2: "DiffusionModel", strengths: Strengths) -> "DiffusionModel":
    """model1's clone with each weight shared with model2 patched as `strengths(key)` says."""
    keys1 = {k: ("unet", p) for k, p in unet_key_names(model1.unet).items()}
    keys2 = {k: ("unet", p) for k, p in unet_key_names(model2.unet).items()}
    patches = _merge_patches(keys1, {"unet": _sources(model1.unet, model1.patches)},
                             keys2, {"unet": _sources(model2.unet, model2.patches)}, strengths)
    return model1.with_patches(patches)


def _clip_sources(clip: "TextEncoder") -> dict[str, dict[str, tuple[torch.Tensor, tuple]]]:
    return {spec.name: _sources(spec.model, clip.patches_of(spec))
            for spec in clip.encoders}


def merge_clips(clip1: "TextEncoder", clip2: "TextEncoder", strengths: Strengths) -> "TextEncoder":
    """clip1's clone with each weight shared with clip2 patched as `strengths(key)` says
    (position ids and logit scales excepted, as in ComfyUI)."""

    def skipping(key: str):
        return None if key.endswith(CLIP_SKIPPED_SUFFIXES) else strengths(key)

    patches = _merge_patches(clip_key_names(clip1.encoders), _clip_sources(clip1),
                             clip_key_names(clip2.encoders), _clip_sources(clip2), skipping)
    return clip1.with_patches(patches)


def constant(strength: float, strength_model: float) -> Strengths:
    return lambda key: (strength, strength_model)


def ratio_strengths(ratio: float) -> Strengths:
    """`model1 * ratio + model2 * (1 - ratio)`."""
    return constant(1.0 - ratio, ratio)


def subtract_strengths(multiplier: float) -> Strengths:
    """`(model1 - model2) * multiplier`."""
    return constant(-multiplier, multiplier)


ADD = constant(1.0, 1.0)


def block_strengths(ratios: Mapping[str, float]) -> Strengths:
    """Ratios by the start of the original-layout key (`input`, `middle`, `out`): the
    longest name that starts a key picks its ratio; keys no name starts take the first's."""
    names = list(ratios)
    default = ratios[names[0]] if names else 1.0

    def strengths(key: str) -> tuple[float, float]:
        inner = key[len(UNET_PREFIX):] if key.startswith(UNET_PREFIX) else key
        matching = [name for name in names if inner.startswith(name)]
        ratio = ratios[max(matching, key=len)] if matching else default
        return 1.0 - ratio, ratio

    return strengths


def effective_weights(module: torch.nn.Module, patches: Sequence[Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """Each parameter as the value with `patches` computes it, one at a time (float32 where
    patched, the stored tensor elsewhere), without patching the shared module."""
    by_target: dict[str, list] = {}
    for patch in patches:
        by_target.setdefault(patch.target, []).append(patch)
    for name, param in module.named_parameters():
        base = param.detach()
        group = by_target.get(name)
        if not group:
            yield name, base
            continue
        total = base.to(torch.float32, copy=True)
        for patch in group:
            total = patch.apply(total, base)
        yield name, total
