"""Attention weight multipliers (ComfyUI's UNetSelfAttentionMultiply,
UNetCrossAttentionMultiply, CLIPAttentionMultiply): the query, key, value and output
projections of every attention layer scaled, as weight patches on a copy of the MODEL or
CLIP (the loaded weights are never changed)."""
from __future__ import annotations

from typing import Iterable

from .registry import Node, register_node
from .spec import Float, Output, Socket

CATEGORY = "_for_testing/attention_experiments"


def _factor() -> Float:
    return Float(default=1.0, min=0.0, max=10.0, step=0.01)


def scale_patches(component: str, names: Iterable[str], projections: dict[str, float]) -> list:
    """A ScalePatch for each weight and bias whose name ends in one of the projections
    (e.g. "attn1.to_q") and whose factor is not 1."""
    from diffusion.patching import ScalePatch

    patches = []
    for name in names:
        stem = name.rsplit(".", 1)[0]
        for projection, factor in projections.items():
            if factor != 1.0 and stem.endswith(projection) and name.endswith((".weight", ".bias")):
                patches.append(ScalePatch(component, name, float(factor)))
    return patches


def _unet_projections(attention: str, q: float, k: float, v: float, out: float) -> dict[str, float]:
    return {f"{attention}.to_q": q, f"{attention}.to_k": k, f"{attention}.to_v": v, f"{attention}.to_out.0": out}


class _UNetAttentionMultiply(Node):
    ATTENTION = ""
    model = Socket("MODEL")
    q = _factor()
    k = _factor()
    v = _factor()
    out = _factor()
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model, q: float, k: float, v: float, out: float) -> tuple:
        names = [name for name, _ in model.unet.named_parameters()]
        patches = scale_patches("unet", names, _unet_projections(self.ATTENTION, q, k, v, out))
        return (model.with_patches(patches) if patches else model,)


@register_node("UNetSelfAttentionMultiply", category=CATEGORY)
class UNetSelfAttentionMultiply(_UNetAttentionMultiply):
    """Scales the UNet's self-attention (attn1) projections."""

    ATTENTION = "attn1"


@register_node("UNetCrossAttentionMultiply", category=CATEGORY)
class UNetCrossAttentionMultiply(_UNetAttentionMultiply):
    """Scales the UNet's cross-attention (attn2, the prompt's) projections."""

    ATTENTION = "attn2"


@register_node("CLIPAttentionMultiply", category=CATEGORY)
class CLIPAttentionMultiply(Node):
    """Scales the text encoders' self-attention projections."""

    clip = Socket("CLIP")
    q = _factor()
    k = _factor()
    v = _factor()
    out = _factor()
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip, q: float, k: float, v: float, out: float) -> tuple:
        projections = {"self_attn.q_proj": q, "self_attn.k_proj": k, "self_attn.v_proj": v,
                       "self_attn.out_proj": out}
        patches = []
        for spec in clip.encoders:
            names = [name for name, _ in spec.model.named_parameters()]
            patches += scale_patches(spec.name, names, projections)
        return (clip.with_patches(patches) if patches else clip,)
