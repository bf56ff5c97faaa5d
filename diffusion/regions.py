"""Where and when one conditioning applies: areas, masks, strengths and timestep ranges.

With several conditionings the denoiser predicts each one on its own region and averages
the predictions per latent pixel, weighted by `strength * mask` (and, for a rectangle
without a mask, an 8-pixel linear ramp along edges inside the latent), as ComfyUI's
calc_cond_batch does. A conditioning outside its timestep range is left out at that step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

FEATHER = 8  # latent pixels of the edge ramp of a rectangular area
NEVER = 1e-37  # initial weight sum: uncovered pixels come out 0 rather than NaN

# A rectangle in latent pixels: (height, width, top, left).
Area = tuple[int, int, int, int]


def resolve_area(area: Any, height: int, width: int) -> Optional[Area]:
    """ComfyUI's `area` extra -> a latent rectangle clipped to the latent.

    `(h, w, y, x)` is in latent pixels; `("percentage", h, w, y, x)` in fractions of the size."""
    if area is None:
        return None
    if area[0] == "percentage":
        h, w = max(1, round(area[1] * height)), max(1, round(area[2] * width))
        y, x = round(area[3] * height), round(area[4] * width)
    else:
        h, w, y, x = (int(v) for v in area)
    y, x = min(max(0, y), height - 1), min(max(0, x), width - 1)
    return min(h, height - y), min(w, width - x), y, x


def mask_bounds(mask: torch.Tensor) -> Optional[Area]:
    """The bounding rectangle of a [B,h,w] mask's non-zero pixels (None if it is empty)."""
    nonzero = torch.nonzero(mask.amax(dim=0) > 0)
    if nonzero.numel() == 0:
        return None
    (y0, x0), (y1, x1) = nonzero.amin(dim=0).tolist(), nonzero.amax(dim=0).tolist()
    return y1 - y0 + 1, x1 - x0 + 1, y0, x0


@dataclass(frozen=True)
class Region:
    """The rectangle an entry is predicted on and its weight there ([b,1,h,w] or [1,1,h,w])."""

    area: Area
    weight: torch.Tensor

    def slices(self) -> tuple[slice, slice]:
        h, w, y, x = self.area
        return slice(y, y + h), slice(x, x + w)


def region_for(
    height: int, width: int, strength: float, area: Any = None, mask: Optional[torch.Tensor] = None,
    mask_strength: float = 1.0, set_area_to_bounds: bool = False, device: torch.device | None = None,
) -> Region:
    """The region and weights of one conditioning on a height x width latent."""
    resolved = resolve_area(area, height, width)
    if mask is not None:
        m = mask.float()
        m = m.reshape(-1, 1, m.shape[-2], m.shape[-1])
        if tuple(m.shape[-2:]) != (height, width):
            m = F.interpolate(m, size=(height, width), mode="bilinear")
        m = m[:, 0]
        if set_area_to_bounds:
            resolved = mask_bounds(m) or (1, 1, 0, 0)
        full = resolved or (height, width, 0, 0)
        h, w, y, x = full
        weight = (m[:, y:y + h, x:x + w] * mask_strength * strength).unsqueeze(1)
        return Region(full, weight.to(device) if device is not None else weight)
    full = resolved or (height, width, 0, 0)
    h, w, y, x = full
    weight = torch.full((1, 1, h, w), float(strength), device=device)
    if resolved is not None:
        ramp = torch.arange(1, FEATHER + 1, dtype=torch.float32, device=device) / FEATHER
        n_h, n_w = min(FEATHER, h), min(FEATHER, w)
        if y != 0:
            weight[:, :, :n_h, :] *= ramp[:n_h].view(-1, 1)
        if y + h < height:
            weight[:, :, h - n_h:, :] *= ramp[:n_h].flip(0).view(-1, 1)
        if x != 0:
            weight[:, :, :, :n_w] *= ramp[:n_w].view(1, -1)
        if x + w < width:
            weight[:, :, :, w - n_w:] *= ramp[:n_w].flip(0).view(1, -1)
    return Region(full, weight)


def percent_to_sigma(percent: float, sigmas: torch.Tensor) -> float:
    """The sigma at a fraction of the sampling (0: before the first step, 1: the end), read
    from the model's 1000 training sigmas with log-linear interpolation, as ComfyUI does."""
    if percent <= 0.0:
        return 999999999.9
    if percent >= 1.0:
        return 0.0
    t = (1.0 - percent) * (len(sigmas) - 1)
    low = int(t)
    high = min(low + 1, len(sigmas) - 1)
    frac = t - low
    log_sigma = (1 - frac) * torch.log(sigmas[low]) + frac * torch.log(sigmas[high])
    return float(torch.exp(log_sigma))
