"""Image batch and geometry nodes (ComfyUI's nodes_images): repeat, pick from a batch, add
noise, stitch, resize and pad, size, rotate, flip, scale to a longest side."""
from __future__ import annotations

import torch

from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .resize import resize
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket
from .memory_checks import check_tensor

IMAGE_OUT = (Output("IMAGE", "IMAGE"),)
TRANSFORM = "image/transform"
SEED_MAX = 0xFFFFFFFFFFFFFFFF


def resize_image(image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    """[B,H,W,C] resized as ComfyUI's common_upscale does (channels first inside)."""
    return resize(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


@register_node("RepeatImageBatch", category="image/batch", display_name="Repeat Image Batch")
class RepeatImageBatch(Node):
    """The whole batch repeated `amount` times ([a, b] twice: [a, b, a, b])."""

    image = Socket("IMAGE")
    amount = Int(default=1, min=1, max=4096)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, amount: int) -> tuple:
        check_tensor("RepeatImageBatch", "image", (image.shape[0] * amount, *image.shape[1:]))
        return (image.repeat(amount, 1, 1, 1),)


@register_node("ImageFromBatch", category="image/batch", display_name="Get Image from Batch")
class ImageFromBatch(Node):
    """`length` images from `batch_index` on (a negative index counts from the end)."""

    image = Socket("IMAGE")
    batch_index = Int(default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION)
    length = Int(default=1, min=1, max=4096)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, batch_index: int, length: int) -> tuple:
        size = image.shape[0]
        index = batch_index + size if batch_index < 0 else batch_index
        index = min(max(index, 0), size - 1)
        return (image[index:index + min(size - index, length)].clone(),)


@register_node("ImageAddNoise", category="image/filters", display_name="Add Noise to Image")
class ImageAddNoise(Node):
    """Gaussian noise of the given strength, from the seed; clamped to 0..1."""

    image = Socket("IMAGE")
    seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True)
    strength = Float(default=0.5, min=0.0, max=1.0, step=0.01)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, seed: int, strength: float) -> tuple:
        generator = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(image.shape, generator=generator, dtype=torch.float32)
        return ((image + strength * noise.to(image)).clamp(0, 1),)


SPACING_COLOURS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "red": (1.0, 0.0, 0.0),
                   "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def _pad_batch(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[0] >= size:
        return image
    return torch.cat([image, image[-1:].expand(size - image.shape[0], -1, -1, -1)])


def _pad_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[-1] >= channels:
        return image
    fill = torch.ones(*image.shape[:-1], channels - image.shape[-1], dtype=image.dtype)
    return torch.cat([image, fill], dim=-1)


def _pad_centred(image: torch.Tensor, axis: int, size: int, value: float) -> torch.Tensor:
    missing = size - image.shape[axis]
    if missing <= 0:
        return image
    before = [0, 0] * 3
    # F.pad lists the last dimension first: (C, W, H) for [B,H,W,C].
    position = {2: 2, 1: 4}[axis]
    before[position], before[position + 1] = missing // 2, missing - missing // 2
    return torch.nn.functional.pad(image, before, value=value)


@register_node("ImageStitch", category=TRANSFORM, display_name="Stitch Images")
class ImageStitch(Node):
    """image2 placed right of, below, left of or above image1, optionally resized to fit and
    with a coloured gap between them."""

    image1 = Socket("IMAGE")
    direction = Combo(choices=["right", "down", "left", "up"])
    match_image_size = Boolean(default=True)
    spacing_width = Int(default=0, min=0, max=1024, step=2)
    spacing_color = Combo(choices=list(SPACING_COLOURS))
    image2 = Socket("IMAGE", optional=True)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image1: torch.Tensor, direction: str, match_image_size: bool, spacing_width: int,
                spacing_color: str, image2: torch.Tensor = None) -> tuple:
        if image2 is None:
            return (image1,)
        batch = max(image1.shape[0], image2.shape[0])
        image1, image2 = _pad_batch(image1, batch), _pad_batch(image2, batch)
        horizontal = direction in ("left", "right")
        (h1, w1), (h2, w2) = image1.shape[1:3], image2.shape[1:3]
        if match_image_size:
            ratio = w2 / h2
            size = (int(h1 * ratio), h1) if horizontal else (w1, int(w1 / ratio))
            image2 = resize_image(image2, size[0], size[1], "lanczos")
        else:
            axis, fill = (1, max(h1, h2)) if horizontal else (2, max(w1, w2))
            value = 1.0 if spacing_color == "white" else 0.0
            image1, image2 = _pad_centred(image1, axis, fill, value), _pad_centred(image2, axis, fill, value)
        channels = max(image1.shape[-1], image2.shape[-1])
        image1, image2 = _pad_channels(image1, channels), _pad_channels(image2, channels)
        parts = [image1, image2] if direction in ("right", "down") else [image2, image1]
        gap = spacing_width + spacing_width % 2
        if gap:
            shape = (batch, image1.shape[1], gap, channels) if horizontal else (batch, gap, image1.shape[2], channels)
            strip = torch.ones(shape, dtype=torch.float32)
            colour = SPACING_COLOURS[spacing_color]
            for channel in range(min(3, channels)):
                strip[..., channel] = colour[channel]
            parts.insert(1, strip.to(image1))
        return (torch.cat(parts, dim=2 if horizontal else 1),)


@register_node("ResizeAndPadImage", category=TRANSFORM, display_name="Resize And Pad Image")
class ResizeAndPadImage(Node):
    """Fit inside target_width x target_height keeping the aspect ratio, centred on a white or
    black canvas of exactly that size."""

    image = Socket("IMAGE")
    target_width = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    target_height = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    padding_color = Combo(choices=["white", "black"])
    interpolation = Combo(choices=["area", "bicubic", "nearest-exact", "bilinear", "lanczos"])
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, target_width: int, target_height: int, padding_color: str,
                interpolation: str) -> tuple:
        height, width = image.shape[1:3]
        scale = min(target_width / width, target_height / height)
        new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
        scaled = resize_image(image, new_w, new_h, interpolation)
        canvas = torch.full((image.shape[0], target_height, target_width, image.shape[-1]),
                            1.0 if padding_color == "white" else 0.0, dtype=image.dtype)
        top, left = (target_height - new_h) // 2, (target_width - new_w) // 2
        canvas[:, top:top + new_h, left:left + new_w] = scaled
        return (canvas,)


@register_node("GetImageSize", category="image", display_name="Get Image Size")
class GetImageSize(Node):
    """Width, height and batch size of an image (also shown on the node)."""

    image = Socket("IMAGE")
    OUTPUTS = (Output("INT", "width"), Output("INT", "height"), Output("INT", "batch_size"))

    def execute(self, ctx, image: torch.Tensor) -> NodeOutput:
        batch, height, width = (int(n) for n in image.shape[:3])
        return NodeOutput((width, height, batch), {"text": [f"width: {width}, height: {height}\n batch size: {batch}"]})


@register_node("ImageRotate", category=TRANSFORM, display_name="Rotate Image")
class ImageRotate(Node):
    """Rotated clockwise by 90, 180 or 270 degrees."""

    image = Socket("IMAGE")
    rotation = Combo(choices=["none", "90 degrees", "180 degrees", "270 degrees"])
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, rotation: str) -> tuple:
        turns = {"90": 1, "180": 2, "270": 3}.get(rotation.split(" ")[0], 0)
        return (torch.rot90(image, turns, dims=[2, 1]),)


@register_node("ImageFlip", category=TRANSFORM, display_name="Flip Image")
class ImageFlip(Node):
    """Upside down (x-axis) or mirrored left to right (y-axis)."""

    image = Socket("IMAGE")
    flip_method = Combo(choices=["x-axis: vertically", "y-axis: horizontally"])
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, flip_method: str) -> tuple:
        return (torch.flip(image, dims=[1 if flip_method.startswith("x") else 2]),)


def longest_side_size(width: int, height: int, longest: int) -> tuple[int, int]:
    if height > width:
        return round(width / height * longest), longest
    if width > height:
        return longest, round(height / width * longest)
    return longest, longest


@register_node("ImageScaleToMaxDimension", category="image/upscaling", display_name="Scale Image to Max Dimension")
class ImageScaleToMaxDimension(Node):
    """Scaled (up or down) so the longer side is `largest_size`, keeping the aspect ratio."""

    image = Socket("IMAGE")
    upscale_method = Combo(choices=["area", "lanczos", "bilinear", "nearest-exact", "bicubic"])
    largest_size = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, upscale_method: str, largest_size: int) -> tuple:
        height, width = image.shape[1:3]
        new_w, new_h = longest_side_size(width, height, largest_size)
        return (resize_image(image, max(1, new_w), max(1, new_h), upscale_method),)

