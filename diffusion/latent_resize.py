"""Latent resizing by spherical interpolation (ComfyUI's "bislerp"): latent vectors keep
their norm better than with bilinear mixing, which matters when a latent is enlarged
between sampling steps."""
from __future__ import annotations

import torch


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of vectors along dim 1, keeping the interpolated norm."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-8), b / nb.clamp_min(1e-8)
    dot = (ua * ub).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin = torch.sin(omega)
    linear = sin.abs() < 1e-4
    wa = torch.where(linear, 1.0 - t, torch.sin((1.0 - t) * omega) / sin.where(~linear, torch.ones_like(sin)))
    wb = torch.where(linear, t, torch.sin(t * omega) / sin.where(~linear, torch.ones_like(sin)))
    return (wa * ua + wb * ub) * (na * (1.0 - t) + nb * t)


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize [B,C,H,W] by slerping between neighbouring latent vectors (rows, then columns)."""
    def along(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
        length = x.shape[dim]
        pos = (torch.arange(size, dtype=torch.float32) + 0.5) * length / size - 0.5
        pos = pos.clamp(0, length - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=length - 1)
        t = (pos - lo.float())
        shape = [1, 1, 1, 1]
        shape[dim] = size
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        return _slerp(a, b, t.view(shape).to(x.device))

    out = along(samples.float(), height, 2)
    return along(out, width, 3).to(samples.dtype)
