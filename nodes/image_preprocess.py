"""Image preprocessors that need no model: Canny edges (for ControlNet canny hints) and
grey-level morphology."""
from __future__ import annotations

import torch

from .registry import Node, register_node
from .spec import Combo, Float, Int, Output, Socket

IMAGE_OUT = (Output("IMAGE", "IMAGE"),)


def _threshold(default: float) -> Float:
    return Float(default=default, min=0.01, max=0.99, step=0.01)


@register_node("Canny", category="image/preprocessors")
class Canny(Node):
    """White edges on black: gradients above high_threshold, and those above low_threshold
    that connect to them."""

    image = Socket("IMAGE")
    low_threshold = _threshold(0.4)
    high_threshold = _threshold(0.8)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, low_threshold: float, high_threshold: float) -> tuple:
        from diffusion.canny import canny

        edges = canny(image, low_threshold, high_threshold)
        return (edges.unsqueeze(-1).expand(-1, -1, -1, 3).clone(),)


@register_node("Morphology", category="image/postprocessing", display_name="ImageMorphology")
class Morphology(Node):
    """Erode, dilate, open, close, gradient, top hat or bottom hat with a square kernel."""

    image = Socket("IMAGE")
    operation = Combo(choices=["erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat"])
    kernel_size = Int(default=3, min=3, max=999, step=1)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, operation: str, kernel_size: int) -> tuple:
        from diffusion.image_filters import morphology

        return (morphology(image.float(), operation, kernel_size).clamp(0, 1),)
