"""Sigma schedules for custom sampling graphs, and the operations on SIGMAS values.

Each returns a decreasing 1-D float32 CPU tensor (usually ending at 0), as the SIGMAS
socket carries it. KSampler's named schedulers are in diffusion/schedules.py; these are
the ones ComfyUI exposes only as scheduler nodes, with their parameters.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .schedules import exponential_sigmas, karras_sigmas

TABLES = Path(__file__).with_name("data") / "sigma_tables.json"
EMPTY = torch.zeros(0, dtype=torch.float32)


def _with_zero(values: Any) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    return torch.cat([t, t.new_zeros(1)])


def karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    return karras_sigmas(steps, sigma_min, sigma_max, rho).to(torch.float32)


def exponential(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    return exponential_sigmas(steps, sigma_min, sigma_max).to(torch.float32)


def polyexponential(steps: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Log-sigma follows ramp**rho from sigma_max to sigma_min (rho 1 = exponential)."""
    ramp = torch.linspace(1, 0, steps) ** rho
    return _with_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def variance_preserving(steps: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3) -> torch.Tensor:
    """The continuous VP-SDE schedule of Song et al. (2021)."""
    t = torch.linspace(1, eps_s, steps)
    return _with_zero(torch.sqrt(torch.special.expm1(beta_d * t ** 2 / 2 + beta_min * t)))


def laplace(steps: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5) -> torch.Tensor:
    """Log-sigma at quantiles of a Laplace distribution (Hang et al. 2024): more steps near e**mu."""
    x = torch.linspace(0, 1, steps)
    lmb = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + 1e-5)
    return _with_zero(torch.clamp(torch.exp(lmb), min=sigma_min, max=sigma_max))


def sd_turbo(sampling: Any, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """SD-Turbo's schedule: training timesteps 999, 899, ..., 99, starting later for denoise < 1."""
    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
    return _with_zero(sampling.sigma(timesteps.to(torch.float32)))


@lru_cache(maxsize=1)
def _tables() -> dict:
    return json.loads(TABLES.read_text(encoding="utf-8"))


def loglinear_resample(levels: list[float], count: int) -> np.ndarray:
    """`count` values log-linearly interpolated along decreasing `levels`."""
    xs = np.linspace(0, 1, len(levels))
    ys = np.log(np.asarray(levels[::-1], dtype=np.float64))
    return np.exp(np.interp(np.linspace(0, 1, count), xs, ys))[::-1].copy()


def _tail(levels: Any, steps: int, denoise: float) -> torch.Tensor:
    """The last round(steps * denoise) steps, ending at 0 (empty for denoise 0)."""
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return EMPTY.clone()
        total = round(steps * denoise)
    sigmas = np.asarray(levels, dtype=np.float64)[-(total + 1):].copy()
    sigmas[-1] = 0.0
    return torch.from_numpy(sigmas).to(torch.float32)


def align_your_steps(model_type: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """NVIDIA's Align Your Steps noise levels for SD1, SDXL or SVD, resampled to `steps`."""
    levels = _tables()["align_your_steps"][model_type]
    if steps + 1 != len(levels):
        levels = loglinear_resample(levels, steps + 1)
    return _tail(levels, steps, denoise)


def gits(coeff: float, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """GITS schedules (Chen et al. 2024) by coefficient; beyond 20 steps the 20-step one resampled."""
    by_steps = _tables()["gits"].get(f"{round(coeff, 2):.2f}")
    if by_steps is None:
        raise ValueError(f"GITS has no schedule for coeff {coeff}; use 0.80 to 1.50 in steps of 0.05")
    levels = by_steps[steps - 2] if steps <= 20 else loglinear_resample(by_steps[-1], steps + 1)
    return _tail(levels, steps, denoise)


def optimal_steps(model_type: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """Optimal Steps (Xue et al. 2025) noise levels for flow models, resampled to `steps`."""
    levels = _tables()["optimal_steps"][model_type]
    if steps + 1 != len(levels):
        levels = loglinear_resample(levels, steps + 1)
    return _tail(levels, steps, denoise)


def manual(text: str) -> torch.Tensor:
    """Sigmas typed as numbers separated by commas or spaces."""
    import re

    values = [float(v) for v in re.findall(r"[-+]?(?:\d*\.\d+|\d+\.?)(?:[eE][-+]?\d+)?", text)]
    return torch.tensor(values, dtype=torch.float32)


def split_at(sigmas: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """High sigmas up to and including `step`, low sigmas from `step` on (they share it)."""
    return sigmas[:step + 1], sigmas[step:]


def split_denoise(sigmas: torch.Tensor, denoise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The last round(steps * denoise) steps as low sigmas, the rest as high ones."""
    steps = max(sigmas.shape[-1] - 1, 0)
    total = round(steps * denoise)
    return sigmas[:-total], sigmas[-(total + 1):]


def flip(sigmas: torch.Tensor) -> torch.Tensor:
    """Ascending sigmas (for unsampling); a leading 0 becomes 0.0001 so the first step moves."""
    if len(sigmas) == 0:
        return sigmas
    out = sigmas.flip(0).clone()
    if out[0] == 0:
        out[0] = 0.0001
    return out


def set_first(sigmas: torch.Tensor, sigma: float) -> torch.Tensor:
    out = sigmas.clone()
    out[0] = sigma
    return out


SPACINGS = {
    "linear": lambda x: x,
    "cosine": lambda x: torch.sin(x * math.pi / 2),
    "sine": lambda x: 1 - torch.cos(x * math.pi / 2),
}


def extend_intermediate(sigmas: torch.Tensor, steps: int, start_at_sigma: float, end_at_sigma: float,
                        spacing: str) -> torch.Tensor:
    """Split every step whose start lies in [end_at_sigma, start_at_sigma] into `steps` steps
    (start_at_sigma < 0: no upper bound)."""
    upper = float("inf") if start_at_sigma < 0 else start_at_sigma
    fractions = SPACINGS[spacing](torch.linspace(0, 1, steps + 1)[1:-1])
    out: list[float] = []
    for i in range(len(sigmas) - 1):
        now, nxt = sigmas[i], sigmas[i + 1]
        out.append(float(now))
        if end_at_sigma <= float(now) <= upper:
            out.extend((fractions * (nxt - now) + now).tolist())
    if len(sigmas):
        out.append(float(sigmas[-1]))
    return torch.tensor(out, dtype=torch.float32)


def percent_to_sigma(sampling: Any, percent: float, actual: bool = False) -> float:
    """The sigma at a fraction of the sampling; `actual` gives the real end sigmas at 0 and 1
    instead of the open bounds interval checks use."""
    if actual and percent == 0.0:
        return float(sampling.sigma_max)
    if actual and percent == 1.0:
        return float(sampling.sigma_min)
    return float(sampling.percent_to_sigma(percent))
