"""Model patches that change the UNet's own computation while the model samples (FreeU,
FreeU V2, Perturbed-Attention and Self-Attention Guidance, Kohya deep shrink, HyperTile,
token merging, hypernetworks); the UNet shared with other MODEL values stays as it was."""
from __future__ import annotations

from typing import Any

from .loaders import _file_fingerprint, _models
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, Output, Socket

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

    VERSION = 1
    model = Socket("MODEL")
    b1 = _factor(1.1)
    b2 = _factor(1.2)
    s1 = _factor(0.9)
    s2 = _factor(0.2)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, b1: float, b2: float, s1: float, s2: float) -> tuple:
        return _with_freeu(model, b1, b2, s1, s2, version=self.VERSION)


@register_node("FreeU_V2", category=UNET_PATCHES)
class FreeUV2(FreeU):
    """FreeU V2: the backbone amplified by each pixel's activation strength, which keeps
    colours from blowing out."""

    VERSION = 2
    b1 = _factor(1.3)
    b2 = _factor(1.4)


@register_node("PerturbedAttentionGuidance", category=UNET_PATCHES)
class PerturbedAttentionGuidance(Node):
    """Perturbed-Attention Guidance: pushes away from a prediction made with the middle
    block's self-attention switched off (one more UNet call per step); sharper structure."""

    model = Socket("MODEL")
    scale = Float(default=3.0, min=0.0, max=100.0, step=0.01)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, scale: float) -> tuple:
        from diffusion.attention_guidance import PerturbedAttentionPatch, pag_hook

        patched = model.with_unet_patch(PerturbedAttentionPatch())
        patched.set_model_sampler_post_cfg_function(pag_hook(scale))
        return (patched,)


@register_node("SelfAttentionGuidance", category="_for_testing", display_name="Self-Attention Guidance")
class SelfAttentionGuidance(Node):
    """Self-Attention Guidance: the negative prediction blurred where the middle block's
    attention looks, predicted again, and guided away from (one more UNet call per step)."""

    model = Socket("MODEL")
    scale = Float(default=0.5, min=-2.0, max=5.0, step=0.01)
    blur_sigma = Float(default=2.0, min=0.0, max=10.0, step=0.1)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, scale: float, blur_sigma: float) -> tuple:
        from diffusion.attention_guidance import AttentionRecorder, SelfAttentionRecordPatch, sag_hook

        recorder = AttentionRecorder()
        patch = SelfAttentionRecordPatch(recorder)
        patched = model.with_unet_patch(patch)
        patched.set_model_sampler_post_cfg_function(sag_hook(scale, blur_sigma, recorder, patch),
                                                    disable_cfg1_optimization=True)
        return (patched,)


_hypernetworks = _models("hypernetworks")
RESIZE_CHOICES = ["bicubic", "nearest-exact", "bilinear", "area", "bislerp"]


@register_node("PatchModelAddDownscale", category=UNET_PATCHES, display_name="PatchModelAddDownscale (Kohya Deep Shrink)")
class PatchModelAddDownscale(Node):
    """Kohya deep shrink: between start_percent and end_percent of sampling, the features
    after input block `block_number` are downscaled (and scaled back up in the decoder), so
    large images keep the composition the model learned at its own size."""

    model = Socket("MODEL")
    block_number = Int(default=3, min=1, max=32, step=1)
    downscale_factor = Float(default=2.0, min=0.1, max=9.0, step=0.001)
    start_percent = Float(default=0.0, min=0.0, max=1.0, step=0.001)
    end_percent = Float(default=0.35, min=0.0, max=1.0, step=0.001)
    downscale_after_skip = Boolean(default=True)
    downscale_method = Combo(choices=RESIZE_CHOICES)
    upscale_method = Combo(choices=RESIZE_CHOICES)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, block_number: int, downscale_factor: float, start_percent: float,
                end_percent: float, downscale_after_skip: bool, downscale_method: str, upscale_method: str) -> tuple:
        from diffusion.deep_shrink import DeepShrinkPatch

        patch = DeepShrinkPatch(block_number, downscale_factor, start_percent, end_percent, downscale_after_skip,
                                downscale_method, upscale_method)
        return (model.with_unet_patch(patch),)


@register_node("HyperTile", category=UNET_PATCHES)
class HyperTile(Node):
    """Self-attention within tiles of about tile_size pixels at the UNet's top levels: much
    faster at large sizes, at some cost in coherence."""

    model = Socket("MODEL")
    tile_size = Int(default=256, min=1, max=2048)
    swap_size = Int(default=2, min=1, max=128)
    max_depth = Int(default=0, min=0, max=10)
    scale_depth = Boolean(default=False)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, tile_size: int, swap_size: int, max_depth: int, scale_depth: bool) -> tuple:
        from diffusion.token_patches import HyperTilePatch

        return (model.with_unet_patch(HyperTilePatch(tile_size, swap_size, max_depth, scale_depth)),)


@register_node("TomePatchModel", category=UNET_PATCHES)
class TomePatchModel(Node):
    """Token merging: a share (ratio) of the full-resolution self-attention queries merged
    into similar ones; faster, slightly softer."""

    model = Socket("MODEL")
    ratio = Float(default=0.3, min=0.0, max=1.0, step=0.01)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, ratio: float) -> tuple:
        from diffusion.token_patches import TokenMergePatch

        return (model.with_unet_patch(TokenMergePatch(ratio)),)


@register_node("HypernetworkLoader", category="loaders")
class HypernetworkLoader(Node):
    """Applies an A1111 hypernetwork (models/hypernetworks) to the model's attention."""

    model = Socket("MODEL")
    hypernetwork_name = Combo(choices=_hypernetworks)
    strength = Float(default=1.0, min=-10.0, max=10.0, step=0.01)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, hypernetwork_name: str, strength: float) -> tuple:
        from diffusion.token_patches import HypernetworkPatch, load_hypernetwork

        nets = load_hypernetwork(ctx.folders.model_path("hypernetworks", hypernetwork_name))
        return (model.with_unet_patch(HypernetworkPatch(nets, strength)),)

    @classmethod
    def fingerprint(cls, folders: Any, hypernetwork_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "hypernetworks", hypernetwork_name)
