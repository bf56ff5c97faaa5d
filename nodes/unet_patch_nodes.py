"""Model patches that change the UNet's own computation while the model samples (FreeU and
FreeU V2); the UNet shared with other MODEL values stays as it was."""
from __future__ import annotations

from .registry import Node, register_node
from .spec import Float, Output, Socket

MODEL_OUT = (Output("MODEL", "MODEL"),)
UNET_PATCHES = "model_patches/unet"


def _factor(default: float) -> Float:
    return Float(default=default, min=0.0, max=10.0, step=0.01)


def _with_freeu(model, b1: float, b2: float, s1: float, s2: float, version: int) -> tuple:
    from diffusion.output_block_patch import OutputBlockPatch, freeu

    channels = int(model.unet.config.block_out_channels[0])
    patch = OutputBlockPatch(f"freeu_v{version}", freeu(channels, b1, b2, s1, s2, version))
    return (model.with_unet_patch(patch),)


@register_node("FreeU", category=UNET_PATCHES)
class FreeU(Node):
    """FreeU: stronger backbone features (b1, b2) and weaker skip low frequencies (s1, s2)
    in the decoder; often more detail and saturation at no cost."""

    model = Socket("MODEL")
    b1 = _factor(1.1)
    b2 = _factor(1.2)
    s1 = _factor(0.9)
    s2 = _factor(0.2)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, b1: float, b2: float, s1: float, s2: float) -> tuple:
        return _with_freeu(model, b1, b2, s1, s2, version=1)


@register_node("FreeU_V2", category=UNET_PATCHES)
class FreeUV2(Node):
    """FreeU V2: the backbone amplified by each pixel's activation strength, which keeps
    colours from blowing out."""

    model = Socket("MODEL")
    b1 = _factor(1.3)
    b2 = _factor(1.4)
    s1 = _factor(0.9)
    s2 = _factor(0.2)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, b1: float, b2: float, s1: float, s2: float) -> tuple:
        return _with_freeu(model, b1, b2, s1, s2, version=2)
