"""Image-prompt nodes: CLIP vision encoders, unCLIP, style models and GLIGEN boxes."""
from __future__ import annotations

from typing import Any

import torch

from .latent import MAX_RESOLUTION
from .loaders import _file_fingerprint, _models, with_embeddings
from .registry import Node, register_node
from .spec import Combo, Float, Int, Output, Socket, String


def _device_and_dtype():
    from diffusion.device import default_device, default_dtype

    device = default_device()
    return device, default_dtype(device)


@register_node("CLIPVisionLoader", category="loaders", display_name="Load CLIP Vision")
class CLIPVisionLoader(Node):
    """Loads a CLIP vision encoder (ViT-L/14, ViT-H/14, ViT-bigG/14) from models/clip_vision."""

    clip_name = Combo(choices=_models("clip_vision"))
    OUTPUTS = (Output("CLIP_VISION", "CLIP_VISION"),)

    def execute(self, ctx, clip_name: str) -> tuple:
        from diffusion.clip_vision import load_clip_vision

        device, dtype = _device_and_dtype()
        return (load_clip_vision(ctx.folders.model_path("clip_vision", clip_name), device=device, dtype=dtype),)

    @classmethod
    def fingerprint(cls, folders: Any, clip_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "clip_vision", clip_name)


@register_node("CLIPVisionEncode", category="conditioning", display_name="CLIP Vision Encode")
class CLIPVisionEncode(Node):
    """Encodes images with a CLIP vision model, for unCLIP, style models and IP-Adapters."""

    clip_vision = Socket("CLIP_VISION")
    image = Socket("IMAGE")
    crop = Combo(choices=("center", "none"), default="center", added_later=True)
    OUTPUTS = (Output("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT"),)

    def execute(self, ctx, clip_vision, image: torch.Tensor, crop: str) -> tuple:
        return (clip_vision.encode_image(image, crop=crop == "center"),)


@register_node("unCLIPCheckpointLoader", category="loaders", display_name="unCLIPCheckpointLoader")
class unCLIPCheckpointLoader(Node):  # noqa: N801 (ComfyUI's class name)
    """Loads an SD2.1 unCLIP checkpoint: its model, text encoder, VAE and the CLIP vision
    encoder it was trained with."""

    ckpt_name = Combo(choices=_models("checkpoints"))
    OUTPUTS = (Output("MODEL", "MODEL"), Output("CLIP", "CLIP"), Output("VAE", "VAE"),
               Output("CLIP_VISION", "CLIP_VISION"))

    def execute(self, ctx, ckpt_name: str) -> tuple:
        from diffusion.unclip import load_unclip_checkpoint

        model, clip, vae, vision = load_unclip_checkpoint(ctx.folders.model_path("checkpoints", ckpt_name))
        return (model, with_embeddings(ctx, clip), vae, vision)

    @classmethod
    def fingerprint(cls, folders: Any, ckpt_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "checkpoints", ckpt_name)


@register_node("unCLIPConditioning", category="conditioning", display_name="unCLIPConditioning")
class unCLIPConditioning(Node):  # noqa: N801 (ComfyUI's class name)
    """Adds image embeddings for an unCLIP model to guide it (strength 0 leaves the
    conditioning as it is); more noise augmentation follows the image more loosely."""

    conditioning = Socket("CONDITIONING")
    clip_vision_output = Socket("CLIP_VISION_OUTPUT")
    strength = Float(default=1.0, min=-10.0, max=10.0, step=0.01)
    noise_augmentation = Float(default=0.0, min=0.0, max=1.0, step=0.01)
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, conditioning: list, clip_vision_output, strength: float,
                noise_augmentation: float) -> tuple:
        if strength == 0:
            return (conditioning,)
        item = {"clip_vision_output": clip_vision_output, "strength": strength,
                "noise_augmentation": noise_augmentation}
        out = []
        for emb, extras in conditioning:
            extras = dict(extras or {})
            extras["unclip_conditioning"] = list(extras.get("unclip_conditioning") or []) + [item]
            out.append([emb, extras])
        return (out,)


@register_node("StyleModelLoader", category="loaders", display_name="Load Style Model")
class StyleModelLoader(Node):
    """Loads a style model (T2I-Adapter style, Flux Redux) from models/style_models."""

    style_model_name = Combo(choices=_models("style_models"))
    OUTPUTS = (Output("STYLE_MODEL", "STYLE_MODEL"),)

    def execute(self, ctx, style_model_name: str) -> tuple:
        from diffusion.style_model import load_style_model

        return (load_style_model(ctx.folders.model_path("style_models", style_model_name)),)

    @classmethod
    def fingerprint(cls, folders: Any, style_model_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "style_models", style_model_name)


@register_node("StyleModelApply", category="conditioning/style_model", display_name="Apply Style Model")
class StyleModelApply(Node):
    """Appends a style model's image tokens to the conditioning's text."""

    conditioning = Socket("CONDITIONING")
    style_model = Socket("STYLE_MODEL")
    clip_vision_output = Socket("CLIP_VISION_OUTPUT")
    strength = Float(default=1.0, min=0.0, max=10.0, step=0.001)
    strength_type = Combo(choices=("multiply", "attn_bias"))
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, conditioning: list, style_model, clip_vision_output, strength: float,
                strength_type: str) -> tuple:
        from diffusion.style_model import append_style_tokens

        tokens = style_model.get_cond(clip_vision_output)
        return (append_style_tokens(conditioning, tokens, strength, strength_type),)


@register_node("GLIGENLoader", category="loaders", display_name="GLIGENLoader")
class GLIGENLoader(Node):
    """Loads a GLIGEN text-box model from models/gligen."""

    gligen_name = Combo(choices=_models("gligen"))
    OUTPUTS = (Output("GLIGEN", "GLIGEN"),)

    def execute(self, ctx, gligen_name: str) -> tuple:
        from diffusion.gligen import load_gligen

        return (load_gligen(ctx.folders.model_path("gligen", gligen_name)),)

    @classmethod
    def fingerprint(cls, folders: Any, gligen_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "gligen", gligen_name)


@register_node("GLIGENTextBoxApply", category="conditioning/gligen", display_name="GLIGENTextBoxApply")
class GLIGENTextBoxApply(Node):
    """Places a phrase in a box of the image (pixels); boxes from several nodes add up."""

    conditioning_to = Socket("CONDITIONING")
    clip = Socket("CLIP")
    gligen_textbox_model = Socket("GLIGEN")
    text = String(multiline=True)
    width = Int(default=64, min=8, max=MAX_RESOLUTION, step=8)
    height = Int(default=64, min=8, max=MAX_RESOLUTION, step=8)
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, conditioning_to: list, clip, gligen_textbox_model, text: str, width: int, height: int,
                x: int, y: int) -> tuple:
        from diffusion.gligen import pooled_phrase

        box = (pooled_phrase(clip, text), height // 8, width // 8, y // 8, x // 8)
        out = []
        for emb, extras in conditioning_to:
            extras = dict(extras or {})
            previous = list(extras["gligen"][2]) if "gligen" in extras else []
            extras["gligen"] = ("position", gligen_textbox_model, previous + [box])
            out.append([emb, extras])
        return (out,)
