"""Mask, inpainting and outpainting nodes (ComfyUI names and inputs)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from .image_nodes import input_file_fingerprint, input_images
from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, Output, Socket, String

CHANNELS = ["alpha", "red", "green", "blue"]


def load_mask_file(path, channel: str) -> torch.Tensor:
    """One channel of an image file as a MASK [1,H,W]; alpha is inverted (transparent = 1)."""
    with Image.open(path) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture.load()
    if picture.getbands() != ("R", "G", "B", "A"):
        if picture.mode == "I":
            picture = picture.point(lambda value: value * (1 / 255))
        picture = picture.convert("RGBA")
    band = channel[0].upper()
    mask = torch.from_numpy(np.asarray(picture.getchannel(band), dtype=np.float32) / 255.0)
    if band == "A":
        mask = 1.0 - mask
    return mask.unsqueeze(0)


@register_node("LoadImageMask", category="mask", display_name="Load Image (as Mask)")
class LoadImageMask(Node):
    """Loads one channel of an image from the input folder as a mask."""

    image = Combo(choices=input_images, image_upload=True)
    channel = Combo(choices=CHANNELS)
    OUTPUTS = (Output("MASK", "MASK"),)

    def execute(self, ctx, image: str, channel: str) -> tuple:
        return (load_mask_file(ctx.folders.annotated_path(image, "input"), channel),)

    @classmethod
    def fingerprint(cls, folders: Any, image: str = "", **_: Any) -> Any:
        return input_file_fingerprint(folders, image)


@register_node("SetLatentNoiseMask", category="latent/inpaint", display_name="Set Latent Noise Mask")
class SetLatentNoiseMask(Node):
    """Limits sampling to the mask: outside it the latent is kept as it is."""

    samples = Socket("LATENT")
    mask = Socket("MASK")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, mask: torch.Tensor) -> tuple:
        from diffusion.masks import as_mask_batch

        out = dict(samples)
        out["noise_mask"] = as_mask_batch(mask)
        return (out,)


@register_node("VAEEncodeForInpaint", category="latent/inpaint", display_name="VAE Encode (for Inpainting)")
class VAEEncodeForInpaint(Node):
    """Encodes an image with the masked part grayed out, and sets a (grown) noise mask;
    made for inpainting models and full denoise."""

    pixels = Socket("IMAGE")
    vae = Socket("VAE")
    mask = Socket("MASK")
    grow_mask_by = Int(default=6, min=0, max=64, step=1, added_later=True)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, pixels: torch.Tensor, vae, mask: torch.Tensor, grow_mask_by: int) -> tuple:
        from diffusion.masks import gray_out, grow_mask, pixels_and_mask

        pixels, mask = pixels_and_mask(pixels, mask, vae.downscale)
        latent = vae.encode(gray_out(pixels, mask))
        return ({"samples": latent, "noise_mask": grow_mask(mask, grow_mask_by).round()},)


@register_node("InpaintModelConditioning", category="conditioning/inpaint",
               display_name="InpaintModelConditioning")
class InpaintModelConditioning(Node):
    """Prepares inpainting: the image latent to sample from, and the masked image and mask
    attached to both conditionings (what an inpainting model's extra channels take)."""

    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    vae = Socket("VAE")
    pixels = Socket("IMAGE")
    mask = Socket("MASK")
    noise_mask = Boolean(default=True, optional=True,
                         tooltip="Also limit sampling to the mask (off: the model alone decides).")
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent"))

    def execute(self, ctx, positive: list, negative: list, vae, pixels: torch.Tensor, mask: torch.Tensor,
                noise_mask: bool = True) -> tuple:
        from diffusion.masks import gray_out, pixels_and_mask

        pixels, mask = pixels_and_mask(pixels, mask, vae.downscale)
        concat_latent = vae.encode(gray_out(pixels, mask))
        latent = {"samples": vae.encode(pixels)}
        if noise_mask:
            latent["noise_mask"] = mask
        extras = {"concat_latent_image": concat_latent, "concat_mask": mask}
        return (_with_extras(positive, extras), _with_extras(negative, extras), latent)


def _with_extras(conditioning: list, extras: dict) -> list:
    """A copy of the conditioning with `extras` set on every entry (the input is untouched)."""
    return [[emb, {**(opts or {}), **extras}] for emb, opts in conditioning]


@register_node("ImagePadForOutpaint", category="image", display_name="Pad Image for Outpainting")
class ImagePadForOutpaint(Node):
    """Adds a gray border to paint into and the mask of it, feathered into the old image."""

    image = Socket("IMAGE")
    left = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    top = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    right = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    bottom = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    feathering = Int(default=40, min=0, max=MAX_RESOLUTION, step=1)
    OUTPUTS = (Output("IMAGE", "IMAGE"), Output("MASK", "MASK"))

    def execute(self, ctx, image: torch.Tensor, left: int, top: int, right: int, bottom: int,
                feathering: int) -> tuple:
        from diffusion.masks import pad_for_outpaint

        return pad_for_outpaint(image, left, top, right, bottom, feathering)


def _rgb255(image: torch.Tensor) -> torch.Tensor:
    return (image[..., :3].clamp(0, 1) * 255).round()


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#ff8800', 'ff8800' or '255, 136, 0' -> (255, 136, 0)."""
    value = str(text).strip()
    try:
        if "," in value:
            parts = tuple(int(p) for p in value.split(","))
        else:
            number = int(value.lstrip("#"), 16)
            parts = ((number >> 16) & 255, (number >> 8) & 255, number & 255)
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"colour {text!r} is not '#rrggbb' or 'r, g, b' with values 0-255")
    return parts  # type: ignore[return-value]


@register_node("ImageColorToMask", category="mask", display_name="Convert Image Color to Mask")
class ImageColorToMask(Node):
    """1 where a pixel has exactly this colour (0xRRGGBB as a number), else 0."""

    image = Socket("IMAGE")
    color = Int(default=0, min=0, max=0xFFFFFF, step=1)
    OUTPUTS = (Output("MASK", "MASK"),)

    def execute(self, ctx, image: torch.Tensor, color: int) -> tuple:
        pixels = _rgb255(image).to(torch.int64)
        packed = (pixels[..., 0] << 16) + (pixels[..., 1] << 8) + pixels[..., 2]
        return ((packed == int(color)).float(),)


@register_node("ThresholdMask", category="mask", display_name="Threshold Mask")
class ThresholdMask(Node):
    """1 where the mask is above the value, else 0."""

    mask = Socket("MASK")
    value = Float(default=0.5, min=0.0, max=1.0, step=0.01)
    OUTPUTS = (Output("MASK", "MASK"),)

    def execute(self, ctx, mask: torch.Tensor, value: float) -> tuple:
        return ((mask > value).float(),)


@register_node("ColorDistanceToMask", category="mask", display_name="Image Colour to Mask (with tolerance)")
class ColorDistanceToMask(Node):
    """1 where a pixel is within `tolerance` (RGB distance, 0-441) of the colour: finds
    flat-coloured things that generation left slightly uneven."""

    image = Socket("IMAGE")
    color = String(default="#ff0000", tooltip="'#rrggbb' or 'r, g, b'.")
    tolerance = Int(default=80, min=0, max=442, step=1)
    OUTPUTS = (Output("MASK", "MASK"),)

    def execute(self, ctx, image: torch.Tensor, color: str, tolerance: int) -> tuple:
        target = torch.tensor(parse_colour(color), dtype=torch.float32)
        distance = (_rgb255(image).float() - target).pow(2).sum(-1).sqrt()
        return ((distance <= tolerance).float(),)


@register_node("InstructPixToPixConditioning", category="conditioning/instructpix2pix")
class InstructPixToPixConditioning(Node):
    """For instruct-pix2pix models: the image to edit goes to the model with both prompts
    (the prompt says what to change); the latent to sample from is blank."""

    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    vae = Socket("VAE")
    pixels = Socket("IMAGE")
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent"))

    def execute(self, ctx, positive: list, negative: list, vae, pixels: torch.Tensor) -> tuple:
        step = vae.downscale
        height, width = (pixels.shape[1] // step) * step, (pixels.shape[2] // step) * step
        top, left = (pixels.shape[1] % step) // 2, (pixels.shape[2] % step) // 2
        source = vae.encode(pixels[:, top:top + height, left:left + width, :3])
        extras = {"concat_latent_image": source}
        latent = {"samples": torch.zeros_like(source)}
        return (_with_extras(positive, extras), _with_extras(negative, extras), latent)
