"""Image crop, batch, blank image and scale-by nodes (ComfyUI names and inputs)."""
from __future__ import annotations

import torch

from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .resize import UPSCALE_METHODS, resize
from .spec import Combo, Float, Int, Output, Socket
from .memory_checks import check_resize, check_tensor


@register_node("ImageCrop", category="image/transform", display_name="Image Crop")
class ImageCrop(Node):
    """Crops images to width x height from (x, y)."""

    image = Socket("IMAGE")
    width = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    height = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, width: int, height: int, x: int, y: int) -> tuple:
        x, y = min(x, image.shape[2] - 1), min(y, image.shape[1] - 1)
        return (image[:, y:y + height, x:x + width, :],)


@register_node("ImageBatch", category="image", display_name="Batch Images")
class ImageBatch(Node):
    """Joins two image batches; the second is resized to the first's size if needed."""

    image1 = Socket("IMAGE")
    image2 = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image1: torch.Tensor, image2: torch.Tensor) -> tuple:
        if image1.shape[1:] != image2.shape[1:]:
            channels_first = image2.movedim(-1, 1)
            image2 = resize(channels_first, image1.shape[2], image1.shape[1], "bilinear", "center").movedim(1, -1)
        return (torch.cat((image1, image2), dim=0),)


@register_node("EmptyImage", category="image", display_name="EmptyImage")
class EmptyImage(Node):
    """A batch of images of one colour (0xRRGGBB)."""

    width = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    height = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    batch_size = Int(default=1, min=1, max=4096)
    color = Int(default=0, min=0, max=0xFFFFFF, step=1)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, width: int, height: int, batch_size: int = 1, color: int = 0) -> tuple:
        check_tensor("EmptyImage", "image", (batch_size, height, width, 3))
        rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
        image = torch.tensor(rgb, dtype=torch.float32).view(1, 1, 1, 3).expand(batch_size, height, width, 3)
        return (image.contiguous(),)


@register_node("ImageScaleBy", category="image/upscaling", display_name="Upscale Image By")
class ImageScaleBy(Node):
    """Resizes images by a factor."""

    image = Socket("IMAGE")
    upscale_method = Combo(choices=UPSCALE_METHODS)
    scale_by = Float(default=1.0, min=0.01, max=8.0, step=0.01)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, upscale_method: str, scale_by: float) -> tuple:
        width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
        check_resize("ImageScaleBy", "image", image.shape[0], image.shape[3], max(1, height), max(1, width))
        scaled = resize(image.movedim(-1, 1), max(1, width), max(1, height), upscale_method).movedim(1, -1)
        return (scaled.clamp(0, 1),)
