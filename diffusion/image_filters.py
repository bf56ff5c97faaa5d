"""Pixel maths of the image and mask nodes: Gaussian blur and sharpen, blend modes, YUV,
mask growth and feathering, and masked pasting. Images are [B,H,W,C] floats in 0..1,
masks [B,H,W]."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """A normalised size x size Gaussian."""
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    row = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    kernel = torch.outer(row, row)
    return kernel / kernel.sum()


def convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of [B,H,W,C] convolved with a [k,k] kernel, edges reflected."""
    channels = image.shape[-1]
    pad = kernel.shape[-1] // 2
    x = image.movedim(-1, 1)
    mode = "reflect" if pad < min(x.shape[-2:]) else "replicate"  # reflect needs the side longer than pad
    x = F.pad(x, (pad, pad, pad, pad), mode=mode) if pad else x
    weight = kernel.to(x).expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=channels).movedim(1, -1)


def blur(image: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    if radius <= 0:
        return image
    return convolve(image, gaussian_kernel(2 * radius + 1, sigma))


def sharpen(image: torch.Tensor, radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """Unsharp kernel: minus a Gaussian scaled by 10 * alpha, its centre raised so the kernel
    sums to one; the result is clamped."""
    if radius <= 0:
        return image
    kernel = gaussian_kernel(2 * radius + 1, sigma) * -(alpha * 10)
    centre = radius
    kernel[centre, centre] = kernel[centre, centre] - kernel.sum() + 1.0
    return convolve(image, kernel).clamp(0, 1)


def _soft_light(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    g = torch.where(a <= 0.25, ((16 * a - 12) * a + 4) * a, torch.sqrt(a))
    return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (g - a))


BLEND_MODES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "normal": lambda a, b: b,
    "multiply": lambda a, b: a * b,
    "screen": lambda a, b: 1 - (1 - a) * (1 - b),
    "overlay": lambda a, b: torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b)),
    "soft_light": _soft_light,
    "difference": lambda a, b: a - b,
}


def blend(image1: torch.Tensor, image2: torch.Tensor, factor: float, mode: str) -> torch.Tensor:
    """image1 mixed with `mode(image1, image2)` by factor, clamped."""
    blended = BLEND_MODES[mode](image1, image2)
    return (image1 * (1 - factor) + blended * factor).clamp(0, 1)


def rgb_to_yuv(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Y, U (Cb) and V (Cr) planes, BT.601 with chroma centred on 0.5, each [B,H,W]."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r = y + 1.403 * (v - 0.5)
    g = y - 0.714 * (v - 0.5) - 0.344 * (u - 0.5)
    b = y + 1.773 * (u - 0.5)
    return torch.stack([r, g, b], dim=-1)


def grow(mask: torch.Tensor, pixels: int, tapered_corners: bool) -> torch.Tensor:
    """Dilate (pixels > 0) or erode (pixels < 0) a [B,H,W] mask one pixel at a time with a
    3x3 neighbourhood; tapered corners use the plus-shaped one."""
    x = mask.unsqueeze(1)
    sign = 1.0 if pixels >= 0 else -1.0
    x = x * sign
    for _ in range(abs(pixels)):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        if tapered_corners:
            centre = padded[..., 1:-1, 1:-1]
            x = torch.stack([centre, padded[..., :-2, 1:-1], padded[..., 2:, 1:-1],
                             padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]]).amax(0)
        else:
            x = F.max_pool2d(padded, 3, stride=1)
    return (x * sign).squeeze(1)


def feather(mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> torch.Tensor:
    """Fade the mask linearly to zero over the given number of pixels at each edge."""
    out = mask.clone()
    height, width = out.shape[-2:]
    left, right, top, bottom = min(left, width), min(right, width), min(top, height), min(bottom, height)
    for i in range(left):
        out[..., :, i] *= (i + 1.0) / left
    for i in range(right):
        out[..., :, -i - 1] *= (i + 1.0) / right
    for i in range(top):
        out[..., i, :] *= (i + 1.0) / top
    for i in range(bottom):
        out[..., -i - 1, :] *= (i + 1.0) / bottom
    return out


def paste(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
          mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """`source` [B,C,h,w] laid over a copy of `destination` [B,C,H,W] with its top-left at
    (x, y) (either may be negative or past the edge: what falls outside is dropped), weighted
    by `mask` [B,h,w] (1 = source) where given."""
    out = destination.clone()
    source = source.to(out)
    if source.shape[0] != out.shape[0]:
        source = source.repeat((out.shape[0] + source.shape[0] - 1) // source.shape[0], 1, 1, 1)[:out.shape[0]]
    weight = torch.ones_like(source[:, :1]) if mask is None else mask.to(out).reshape(-1, 1, *mask.shape[-2:])
    if weight.shape[-2:] != source.shape[-2:]:
        weight = F.interpolate(weight, size=source.shape[-2:], mode="bilinear")
    if weight.shape[0] != out.shape[0]:
        weight = weight.repeat((out.shape[0] + weight.shape[0] - 1) // weight.shape[0], 1, 1, 1)[:out.shape[0]]
    height, width = out.shape[-2:]
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + source.shape[-2], height), min(x + source.shape[-1], width)
    if bottom <= top or right <= left:
        return out
    src = (slice(top - y, bottom - y), slice(left - x, right - x))
    w = weight[..., src[0], src[1]]
    region = out[..., top:bottom, left:right]
    out[..., top:bottom, left:right] = w * source[..., src[0], src[1]] + (1 - w) * region
    return out


def _window_extreme(image: torch.Tensor, size: int, largest: bool) -> torch.Tensor:
    """Max (or min) over a size x size window anchored at its centre (size // 2), of a
    [B,H,W,C] image; pixels outside the image are ignored."""
    x = image.movedim(-1, 1)
    before, after = size // 2, size - 1 - size // 2
    fill = float("-inf") if largest else float("inf")
    padded = F.pad(x, (before, after, before, after), value=fill)
    pooled = F.max_pool2d(padded if largest else -padded, size, stride=1)
    return (pooled if largest else -pooled).movedim(1, -1)


def morphology(image: torch.Tensor, operation: str, size: int) -> torch.Tensor:
    """Grey-level morphology with a flat square kernel: erode, dilate, open, close, gradient,
    top_hat (image - opening), bottom_hat (closing - image)."""
    def dilate(x: torch.Tensor) -> torch.Tensor:
        return _window_extreme(x, size, largest=True)

    def erode(x: torch.Tensor) -> torch.Tensor:
        return _window_extreme(x, size, largest=False)

    operations = {
        "erode": erode,
        "dilate": dilate,
        "open": lambda x: dilate(erode(x)),
        "close": lambda x: erode(dilate(x)),
        "gradient": lambda x: dilate(x) - erode(x),
        "top_hat": lambda x: x - dilate(erode(x)),
        "bottom_hat": lambda x: erode(dilate(x)) - x,
    }
    if operation not in operations:
        raise ValueError(f"unknown morphology operation {operation!r}")
    return operations[operation](image)




def _porter_duff_modes() -> dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]]:
    """mode -> fn(s, d, sa, da) -> (alpha, premultiplied colour), on premultiplied s and d."""
    def union(sa: torch.Tensor, da: torch.Tensor) -> torch.Tensor:
        return sa + da - sa * da

    return {
        "ADD": lambda s, d, sa, da: ((sa + da).clamp(0, 1), (s + d).clamp(0, 1)),
        "CLEAR": lambda s, d, sa, da: (torch.zeros_like(sa), torch.zeros_like(s)),
        "DARKEN": lambda s, d, sa, da: (union(sa, da), (1 - da) * s + (1 - sa) * d + torch.minimum(s, d)),
        "DST": lambda s, d, sa, da: (da, d),
        "DST_ATOP": lambda s, d, sa, da: (sa, sa * d + (1 - da) * s),
        "DST_IN": lambda s, d, sa, da: (sa * da, d * sa),
        "DST_OUT": lambda s, d, sa, da: ((1 - sa) * da, (1 - sa) * d),
        "DST_OVER": lambda s, d, sa, da: (da + (1 - da) * sa, d + (1 - da) * s),
        "LIGHTEN": lambda s, d, sa, da: (union(sa, da), (1 - da) * s + (1 - sa) * d + torch.maximum(s, d)),
        "MULTIPLY": lambda s, d, sa, da: (sa * da, s * d),
        "OVERLAY": lambda s, d, sa, da: (union(sa, da),
                                         torch.where(2 * d < da, 2 * s * d, sa * da - 2 * (da - s) * (sa - d))),
        "SCREEN": lambda s, d, sa, da: (union(sa, da), s + d - s * d),
        "SRC": lambda s, d, sa, da: (sa, s),
        "SRC_ATOP": lambda s, d, sa, da: (da, da * s + (1 - sa) * d),
        "SRC_IN": lambda s, d, sa, da: (sa * da, s * da),
        "SRC_OUT": lambda s, d, sa, da: ((1 - da) * sa, (1 - da) * s),
        "SRC_OVER": lambda s, d, sa, da: (sa + (1 - sa) * da, s + (1 - sa) * d),
        "XOR": lambda s, d, sa, da: ((1 - da) * sa + (1 - sa) * da, (1 - da) * s + (1 - sa) * d),
    }


PORTER_DUFF_MODES = _porter_duff_modes()


def porter_duff(source: torch.Tensor, source_alpha: torch.Tensor, destination: torch.Tensor,
                destination_alpha: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Porter-Duff compositing of [H,W,C] colours with [H,W,1] alphas (not premultiplied);
    returns the colour (un-premultiplied, clamped) and the alpha."""
    alpha, colour = PORTER_DUFF_MODES[mode](source * source_alpha, destination * destination_alpha,
                                            source_alpha, destination_alpha)
    safe = torch.where(alpha > 1e-5, alpha, torch.ones_like(alpha))
    colour = torch.where(alpha > 1e-5, colour / safe, torch.zeros_like(colour)).clamp(0, 1)
    return colour, alpha
