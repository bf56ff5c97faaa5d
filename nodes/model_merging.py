"""Model and text-encoder merging nodes (ComfyUI's advanced/model_merging).

Every merge is a patched clone of its first input (diffusion/merging.py): no weights are
copied or changed, and the merge costs nothing until the merged value runs.
"""
from __future__ import annotations

from .registry import Node, register_node
from .spec import Float, Output, Socket

CATEGORY = "advanced/model_merging"


def _ratio() -> Float:
    return Float(default=1.0, min=0.0, max=1.0, step=0.01)


def _multiplier() -> Float:
    return Float(default=1.0, min=-10.0, max=10.0, step=0.01)


@register_node("ModelMergeSimple", category=CATEGORY)
class ModelMergeSimple(Node):
    """model1 * ratio + model2 * (1 - ratio), weight by weight."""

    model1 = Socket("MODEL")
    model2 = Socket("MODEL")
    ratio = _ratio()
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model1, model2, ratio: float) -> tuple:
        from diffusion.merging import merge_models, ratio_strengths

        return (merge_models(model1, model2, ratio_strengths(ratio)),)


@register_node("ModelMergeBlocks", category=CATEGORY)
class ModelMergeBlocks(Node):
    """Like ModelMergeSimple with one ratio for the input blocks, one for the middle block and
    one for the output blocks (other weights take the input ratio)."""

    model1 = Socket("MODEL")
    model2 = Socket("MODEL")
    input = _ratio()
    middle = _ratio()
    out = _ratio()
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model1, model2, input: float, middle: float, out: float) -> tuple:
        from diffusion.merging import block_strengths, merge_models

        ratios = {"input": input, "middle": middle, "out": out}
        return (merge_models(model1, model2, block_strengths(ratios)),)


@register_node("ModelMergeSubtract", category=CATEGORY)
class ModelMergeSubtract(Node):
    """(model1 - model2) * multiplier: the difference LoraSave turns into a LoRA."""

    model1 = Socket("MODEL")
    model2 = Socket("MODEL")
    multiplier = _multiplier()
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model1, model2, multiplier: float) -> tuple:
        from diffusion.merging import merge_models, subtract_strengths

        return (merge_models(model1, model2, subtract_strengths(multiplier)),)


@register_node("ModelMergeAdd", category=CATEGORY)
class ModelMergeAdd(Node):
    """model1 + model2 (adds a difference made by ModelMergeSubtract back onto a model)."""

    model1 = Socket("MODEL")
    model2 = Socket("MODEL")
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model1, model2) -> tuple:
        from diffusion.merging import ADD, merge_models

        return (merge_models(model1, model2, ADD),)


@register_node("CLIPMergeSimple", category=CATEGORY)
class CLIPMergeSimple(Node):
    """clip1 * ratio + clip2 * (1 - ratio) (position ids and logit scale stay clip1's)."""

    clip1 = Socket("CLIP")
    clip2 = Socket("CLIP")
    ratio = _ratio()
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip1, clip2, ratio: float) -> tuple:
        from diffusion.merging import merge_clips, ratio_strengths

        return (merge_clips(clip1, clip2, ratio_strengths(ratio)),)


@register_node("CLIPMergeSubtract", category=CATEGORY)
class CLIPMergeSubtract(Node):
    """(clip1 - clip2) * multiplier."""

    clip1 = Socket("CLIP")
    clip2 = Socket("CLIP")
    multiplier = _multiplier()
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip1, clip2, multiplier: float) -> tuple:
        from diffusion.merging import merge_clips, subtract_strengths

        return (merge_clips(clip1, clip2, subtract_strengths(multiplier)),)


@register_node("CLIPMergeAdd", category=CATEGORY)
class CLIPMergeAdd(Node):
    """clip1 + clip2."""

    clip1 = Socket("CLIP")
    clip2 = Socket("CLIP")
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip1, clip2) -> tuple:
        from diffusion.merging import ADD, merge_clips

        return (merge_clips(clip1, clip2, ADD),)
