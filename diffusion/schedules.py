"""Noise schedules: the model's discrete sigmas and the KSampler schedulers.

A schedule is a pure function returning the sigmas a sampler walks through: a
decreasing 1-D float32 CPU tensor whose last entry is 0. Names and semantics follow
ComfyUI's ``scheduler`` combo so that saved workflows give the same step sizes.
Sigmas here are in k-diffusion's "variance exploding" form: x = x0 + sigma * eps.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

__all__ = [
    "SCHEDULER_NAMES",
    "model_sigmas",
    "sigma_to_t",
    "t_to_sigma",
    "compute_sigmas",
    "karras_sigmas",
    "exponential_sigmas",
]


def model_sigmas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The 1000 training sigmas (ascending) from the DDPM schedule: sqrt((1-a)/a)."""
    a = alphas_cumprod.detach().to("cpu", torch.float64)
    return ((1.0 - a) / a).sqrt().to(torch.float32)


def sigma_to_t(sigma: torch.Tensor | float, sigmas: torch.Tensor) -> torch.Tensor:
    """Continuous timestep for a sigma, linear in log-sigma between training steps.

    Interpolation (rather than rounding) keeps schedules between the training sigmas,
    such as karras, exact: t_to_sigma(sigma_to_t(s)) == s inside the trained range.
    """
    log_sigmas = sigmas.to(torch.float64).log()
    s = torch.as_tensor(sigma, dtype=torch.float64).cpu()
    log_s = s.clamp_min(1e-30).log()
    hi = torch.searchsorted(log_sigmas, log_s.reshape(-1).contiguous()).clamp(1, len(log_sigmas) - 1)
    lo = hi - 1
    w = (log_s.reshape(-1) - log_sigmas[lo]) / (log_sigmas[hi] - log_sigmas[lo])
    t = lo.to(torch.float64) + w.clamp(0.0, 1.0)
    return t.reshape(s.shape).to(torch.float32)


def t_to_sigma(t: torch.Tensor | float, sigmas: torch.Tensor) -> torch.Tensor:
    """Sigma for a (possibly fractional) timestep, interpolating log-sigma."""
    log_sigmas = sigmas.to(torch.float64).log()
    tt = torch.as_tensor(t, dtype=torch.float64).cpu().clamp(0, len(sigmas) - 1)
    lo = tt.floor().long()
    hi = tt.ceil().long()
    w = tt - lo.to(torch.float64)
    return ((1 - w) * log_sigmas[lo] + w * log_sigmas[hi]).exp().to(torch.float32)


def _append_zero(values: list[float] | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    return torch.cat([t, t.new_zeros(1)])


def _normal(sigmas: torch.Tensor, steps: int, sgm: bool = False) -> torch.Tensor:
    """Timesteps evenly spaced from the last to the first training step."""
    start = float(sigma_to_t(sigmas[-1], sigmas))
    end = float(sigma_to_t(sigmas[0], sigmas))
    if sgm:  # SGM/SDXL style: steps+1 points, the final one (t=0) replaced by sigma 0
        ts = torch.linspace(start, end, steps + 1)[:-1]
    elif float(sigmas[0]) < 1e-5:  # a model that reaches sigma 0 itself: no extra zero
        return t_to_sigma(torch.linspace(start, end, steps + 1), sigmas)
    else:
        ts = torch.linspace(start, end, steps)
    return _append_zero(t_to_sigma(ts, sigmas))


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022): evenly spaced in sigma**(1/rho)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential_sigmas(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log-sigma."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64).exp())


def _simple(sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Every len/steps-th training sigma, from the top (ComfyUI's "simple")."""
    stride = len(sigmas) / steps
    return _append_zero([float(sigmas[-(1 + int(i * stride))]) for i in range(steps)])


def _ddim_uniform(sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Training sigmas 1, 1+k, 1+2k, ... with k = len//steps, as the DDIM paper.

    Like ComfyUI this can give a few more than steps+1 values when steps does not
    divide the number of training steps (30 steps -> 31 sigmas + 0).
    """
    stride = max(len(sigmas) // steps, 1)
    picked = [float(sigmas[i]) for i in range(1, len(sigmas), stride)]
    return _append_zero(picked[::-1])


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below the mean
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = a * math.log(x) + b * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    frac = d
    for m in range(1, 500):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            frac *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * frac / a


def _beta_ppf(q: float, a: float, b: float) -> float:
    """Inverse of I_x(a, b) by bisection (scipy.stats.beta.ppf without scipy)."""
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def beta_sigmas(sigmas: torch.Tensor, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Timesteps at quantiles of Beta(alpha, beta) (Lee et al. 2024), more steps at both ends.

    Repeated timesteps are dropped, so very many steps can give fewer sigmas.
    """
    total = len(sigmas) - 1
    qs = 1.0 - np.linspace(0.0, 1.0, steps, endpoint=False)
    ts = np.rint(np.array([_beta_ppf(float(q), alpha, beta) for q in qs]) * total)
    picked: list[float] = []
    last = -1.0
    for t in ts:
        if t != last:
            picked.append(float(sigmas[int(t)]))
        last = t
    return _append_zero(picked)


def _kl_optimal(sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Evenly spaced in arctan(sigma) (Sabour et al. 2024, "Align Your Steps")."""
    lo, hi = math.atan(float(sigmas[0])), math.atan(float(sigmas[-1]))
    w = torch.arange(steps, dtype=torch.float64) / max(steps - 1, 1)
    return _append_zero((w * lo + (1 - w) * hi).tan())


_SCHEDULERS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "normal": _normal,
    "karras": lambda s, n: karras_sigmas(n, float(s[0]), float(s[-1])),
    "exponential": lambda s, n: exponential_sigmas(n, float(s[0]), float(s[-1])),
    "sgm_uniform": lambda s, n: _normal(s, n, sgm=True),
    "simple": _simple,
    "ddim_uniform": _ddim_uniform,
    "beta": beta_sigmas,
    "kl_optimal": _kl_optimal,
}

SCHEDULER_NAMES: list[str] = list(_SCHEDULERS)


def compute_sigmas(model_sigmas: torch.Tensor, scheduler: str, steps: int) -> torch.Tensor:
    """Sigmas for ``steps`` steps: a float32 CPU tensor of steps+1 values ending at 0.

    ``model_sigmas`` are the ascending training sigmas (see :func:`model_sigmas`).
    ddim_uniform and beta may differ from steps+1 by ComfyUI's rounding (see them).
    """
    if scheduler not in _SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; expected one of {SCHEDULER_NAMES}")
    if steps <= 0:
        return torch.zeros(0, dtype=torch.float32)
    sigmas = model_sigmas.detach().to("cpu", torch.float32)
    return _SCHEDULERS[scheduler](sigmas, int(steps)).to(torch.float32)
