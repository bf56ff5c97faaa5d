"""Samplers that integrate the probability-flow ODE in sigma (Karras et al. 2022 form).

dx/dsigma = (x - D(x, sigma)) / sigma. Euler, Heun and the DPM-2 midpoint method are
one-step; LMS, iPNDM and DEIS are Adams-Bashforth multistep methods; ancestral
variants, DDPM and LCM add fresh noise after each step.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from diffusion.samplers_base import Denoise, NoiseSampler, ancestral_step, floats, report, to_d
from diffusion.types import StepCallback


def sample_euler(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """First-order ODE step; the reference sampler (also ComfyUI's "ddim")."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        x = x + to_d(x, s[i], denoised) * (s[i + 1] - s[i]) if s[i + 1] > 0 else denoised
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_euler_ancestral(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
) -> torch.Tensor:
    """Euler down to sigma_down, then add noise back up to sigma_next."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
        else:
            down, up = ancestral_step(s[i], s[i + 1], eta)
            x = x + to_d(x, s[i], denoised) * (down - s[i]) + noise_sampler(s[i], s[i + 1]) * up
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_heun(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Second-order trapezoid (Karras' Algorithm 1); Euler for the last step to 0."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        d = to_d(x, s[i], denoised)
        dt = s[i + 1] - s[i]
        if s[i + 1] == 0:
            x = denoised
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, s[i + 1], denoiser(x_2, s[i + 1]))
            x = x + (d + d_2) * (dt / 2)
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_heunpp2(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Heun with a third look-ahead slope, weighted by sigma (ComfyUI's "heunpp2")."""
    s = floats(sigmas)
    end = s[-1]
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        d = to_d(x, s[i], denoised)
        dt = s[i + 1] - s[i]
        if s[i + 1] == end:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, s[i + 1], denoiser(x_2, s[i + 1]))
            if s[i + 2] == end:
                w2 = s[i + 1] / (2 * s[0])
                x = x + (d * (1 - w2) + d_2 * w2) * dt
            else:
                x_3 = x_2 + d_2 * (s[i + 2] - s[i + 1])
                d_3 = to_d(x_3, s[i + 2], denoiser(x_3, s[i + 2]))
                w2, w3 = s[i + 1] / (3 * s[0]), s[i + 2] / (3 * s[0])
                x = x + (d * (1 - w2 - w3) + d_2 * w2 + d_3 * w3) * dt
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def _dpm2_step(denoiser: Denoise, x: torch.Tensor, d: torch.Tensor, sigma: float, target: float) -> torch.Tensor:
    """Midpoint rule with the midpoint at the geometric mean of the two sigmas."""
    mid = math.sqrt(sigma * target)
    x_2 = x + d * (mid - sigma)
    d_2 = to_d(x_2, mid, denoiser(x_2, mid))
    return x + d_2 * (target - sigma)


def sample_dpm_2(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """DPM-Solver-2 style midpoint method (Karras' variant)."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
        else:
            x = _dpm2_step(denoiser, x, to_d(x, s[i], denoised), s[i], s[i + 1])
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_dpm_2_ancestral(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
) -> torch.Tensor:
    """Midpoint step to sigma_down, then fresh noise up to sigma_next."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        down, up = ancestral_step(s[i], s[i + 1], eta)
        if down == 0:
            x = denoised
        else:
            x = _dpm2_step(denoiser, x, to_d(x, s[i], denoised), s[i], down)
            x = x + noise_sampler(s[i], s[i + 1]) * up
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)  # exact for degree <= 15


def adams_coefficients(s: list[float], i: int, order: int) -> list[float]:
    """Integrals over [s[i], s[i+1]] of the Lagrange basis through s[i], s[i-1], ...

    Coefficient j multiplies the derivative taken at s[i-j]. The integrand is a
    polynomial of degree order-1, so Gauss-Legendre quadrature is exact (no scipy).
    """
    a, b = s[i], s[i + 1]
    taus = 0.5 * (b - a) * _GL_NODES + 0.5 * (b + a)
    points = [s[i - k] for k in range(order)]
    out = []
    for j in range(order):
        basis = np.ones_like(taus)
        for k in range(order):
            if k != j:
                basis *= (taus - points[k]) / (points[j] - points[k])
        out.append(float(0.5 * (b - a) * np.dot(_GL_WEIGHTS, basis)))
    return out


def _adams(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, callback: Optional[StepCallback], max_order: int
) -> torch.Tensor:
    s = floats(sigmas)
    ds: list[torch.Tensor] = []  # newest first
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        ds.insert(0, to_d(x, s[i], denoised))
        del ds[max_order:]
        if s[i + 1] == 0:
            x = denoised
        else:
            coeffs = adams_coefficients(s, i, min(i + 1, max_order))
            x = x + sum(c * d for c, d in zip(coeffs, ds))
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_lms(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None, order: int = 4,
) -> torch.Tensor:
    """Linear multistep (variable-step Adams-Bashforth in sigma), up to 4th order."""
    return _adams(denoiser, x, sigmas, callback, order)


def sample_deis(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None, max_order: int = 3,
) -> torch.Tensor:
    """DEIS "tab" mode: for the VE ODE in sigma it is Adams-Bashforth up to 3rd order."""
    return _adams(denoiser, x, sigmas, callback, max_order)


# Integer Adams-Bashforth weights and their common divisor, per order.
_IPNDM = {1: ((1,), 1), 2: ((3, -1), 2), 3: ((23, -16, 5), 12), 4: ((55, -59, 37, -9), 24)}


def sample_ipndm(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None, max_order: int = 4,
) -> torch.Tensor:
    """Improved PNDM: fixed-coefficient Adams-Bashforth (as if steps were equal)."""
    s = floats(sigmas)
    ds: list[torch.Tensor] = []
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        ds.insert(0, to_d(x, s[i], denoised))
        del ds[max_order:]
        if s[i + 1] == 0:
            x = denoised
        else:
            weights, divisor = _IPNDM[min(i + 1, max_order)]
            x = x + (s[i + 1] - s[i]) * (sum(w * d for w, d in zip(weights, ds)) / divisor)
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_ddpm(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Ho et al.'s ancestral step: sample the DDPM posterior q(x_next | x, x0)."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        eps = to_d(x, s[i], denoised)
        ac, ac_next = 1 / (s[i] ** 2 + 1), 1 / (s[i + 1] ** 2 + 1)
        alpha = ac / ac_next
        x_vp = x / math.sqrt(1 + s[i] ** 2)
        mu = (x_vp - (1 - alpha) / math.sqrt(1 - ac) * eps) / math.sqrt(alpha)
        if s[i + 1] > 0:
            mu = mu + math.sqrt((1 - alpha) * (1 - ac_next) / (1 - ac)) * noise_sampler(s[i], s[i + 1])
            x = mu * math.sqrt(1 + s[i + 1] ** 2)
        else:
            x = mu
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_lcm(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Latent consistency: jump to the estimate, then re-noise to the next sigma."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        x = denoised + noise_sampler(s[i], s[i + 1]) * s[i + 1] if s[i + 1] > 0 else denoised
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x
