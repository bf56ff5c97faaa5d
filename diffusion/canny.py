"""Canny edge detection on image tensors (for ControlNet canny hints): grey, Gaussian blur,
Sobel gradients, non-maximum suppression along the gradient, double threshold and
hysteresis (weak edges kept only where they connect to strong ones)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .image_filters import gaussian_kernel

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
# Neighbour offsets (dy, dx) along each of the four quantised gradient directions.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = kernel.shape[-1] // 2
    return F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), kernel.to(x)[None, None])


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved so that each pixel sees its neighbour at (+dy, +dx); zeros past the edge."""
    padded = F.pad(x, (1, 1, 1, 1))
    height, width = x.shape[-2:]
    return padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]


def canny(image: torch.Tensor, low: float, high: float, sigma: float = 1.0, kernel_size: int = 5,
          max_iterations: int = 10000) -> torch.Tensor:
    """Edges (0 or 1) of [B,H,W,C] images in 0..1, as [B,H,W]. Thresholds are on the scale
    of the plain 3x3 Sobel operator's gradient magnitude."""
    rgb = image[..., :3].movedim(-1, 1).float()
    if rgb.shape[1] == 3:
        grey = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)
    else:
        grey = rgb[:, :1]
    blurred = _filter(grey, gaussian_kernel(kernel_size, sigma))
    gx, gy = _filter(blurred, _SOBEL_X), _filter(blurred, _SOBEL_X.T)
    magnitude = torch.sqrt(gx * gx + gy * gy + 1e-6)
    angle = torch.atan2(gy, gx)
    sector = (torch.round(angle / (math.pi / 4)) % 4).long()  # 0: horizontal gradient, 2: vertical
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (dy, dx) in enumerate(_DIRECTIONS):
        ahead, behind = _shifted(magnitude, dy, dx), _shifted(magnitude, -dy, -dx)
        keep |= (sector == index) & (magnitude >= ahead) & (magnitude >= behind)
    thin = magnitude * keep
    strong = thin > high
    weak = (thin > low) & ~strong
    for _ in range(max_iterations):
        grown = strong | (weak & (F.max_pool2d(strong.float(), 3, stride=1, padding=1) > 0))
        if torch.equal(grown, strong):
            break
        strong = grown
    return strong.float().squeeze(1)
