"""Image nodes: load, save, preview, scale, invert."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from .png_files import save_images
from .registry import Node, register_node
from .resize import CROP_METHODS, UPSCALE_METHODS, fill_missing_side, resize
from .spec import Combo, Int, NodeOutput, Output, Socket, String
from .latent import MAX_RESOLUTION
from .memory_checks import check_resize


def input_images(folders: Any) -> list[str]:
    """Choices for an image widget: the files in the input folder."""
    return folders.list_input_images() if folders is not None else []


def input_file_fingerprint(folders: Any, image: str, default: str = "input") -> Any:
    """Content hash of an input (or `name [output]`) file, so its loader re-runs when the
    file changes."""
    try:
        return hashlib.sha256(folders.annotated_path(image, default).read_bytes()).hexdigest()
    except (OSError, ValueError, AttributeError):
        return None


def load_image_file(path) -> tuple[torch.Tensor, torch.Tensor]:
    """An image file -> (IMAGE [1,H,W,3], MASK [1,H,W]); the mask is 1 - alpha (0 without alpha)."""
    with Image.open(path) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture.load()
    if picture.mode == "I":
        picture = picture.point(lambda value: value * (1 / 255))
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    image = torch.from_numpy(rgb)[None]
    if "A" in picture.getbands():
        alpha = np.asarray(picture.getchannel("A"), dtype=np.float32) / 255.0
        mask = 1.0 - torch.from_numpy(alpha)
    else:
        mask = torch.zeros(rgb.shape[:2], dtype=torch.float32)
    return image, mask[None]


@register_node("LoadImage", category="image", display_name="Load Image")
class LoadImage(Node):
    """Loads an image from the input folder; its alpha channel becomes a mask."""

    image = Combo(choices=input_images, image_upload=True, tooltip="An image in the input folder.")
    OUTPUTS = (Output("IMAGE", "IMAGE"), Output("MASK", "MASK"))

    def execute(self, ctx, image: str) -> tuple:
        return load_image_file(ctx.folders.annotated_path(image, "input"))

    @classmethod
    def fingerprint(cls, folders: Any, image: str = "", **_: Any) -> Any:
        return input_file_fingerprint(folders, image)


@register_node("SaveImage", category="image", display_name="Save Image", output_node=True)
class SaveImage(Node):
    """Saves images as PNG in the output folder, with the workflow inside; never overwrites
    another prompt's file, and a prompt re-run after a crash rewrites its own."""

    images = Socket("IMAGE", tooltip="The images to save.")
    filename_prefix = String(default="ComfyUI", tooltip="File name start; 'folder/name' saves in a subfolder.")
    OUTPUTS = ()

    def execute(self, ctx, images: torch.Tensor, filename_prefix: str = "ComfyUI") -> NodeOutput:
        records = save_images(images, ctx.folders.output, filename_prefix, ctx.prompt, ctx.extra_pnginfo,
                              outputs=ctx.output_files, node_id=ctx.node_id)
        return NodeOutput((), {"images": records})


@register_node("PreviewImage", category="image", display_name="Preview Image", output_node=True)
class PreviewImage(Node):
    """Shows images without keeping them (they go to the temp folder)."""

    images = Socket("IMAGE")
    OUTPUTS = ()

    def execute(self, ctx, images: torch.Tensor) -> NodeOutput:
        records = save_images(images, ctx.folders.temp, "preview", ctx.prompt, ctx.extra_pnginfo, compress_level=1)
        return NodeOutput((), {"images": records})


@register_node("ImageScale", category="image/upscaling", display_name="Upscale Image")
class ImageScale(Node):
    """Resizes images (a zero side keeps the aspect ratio)."""

    image = Socket("IMAGE")
    upscale_method = Combo(choices=UPSCALE_METHODS, default="nearest-exact")
    width = Int(default=512, min=0, max=MAX_RESOLUTION, step=1)
    height = Int(default=512, min=0, max=MAX_RESOLUTION, step=1)
    crop = Combo(choices=CROP_METHODS, default="disabled")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        width, height = fill_missing_side(image.shape[2], image.shape[1], width, height)
        check_resize("ImageScale", "image", image.shape[0], image.shape[3], height, width)
        channels_first = image.movedim(-1, 1)
        scaled = resize(channels_first, width, height, upscale_method, crop).movedim(1, -1)
        return (scaled.clamp(0, 1),)


@register_node("ImageInvert", category="image", display_name="Invert Image")
class ImageInvert(Node):
    """Inverts the colours of images."""

    image = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor) -> tuple:
        return (1.0 - image,)
