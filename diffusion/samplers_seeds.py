"""SEEDS (Gonzalez et al., NeurIPS 2023): stochastic explicit exponential solvers in data
prediction, stepping in lambda = -log(sigma) with two or three stages per step.

Each stage moves x by the exact linear part, exp(-eta h) sigma'/sigma, and integrates the
data prediction with phi functions (h phi_1 = expm1, h phi_2 = (expm1(h) - h) / h);
with eta > 0 the noise of each stage is carried into the next, decayed, plus a fresh draw,
so that the step's total noise has the SDE's variance. At r = 1 the two-stage method is
the exponential Heun method (exp_heun_2_x0, and with noise exp_heun_2_x0_sde).
Written for eps/v models, whose alpha is 1 in this space.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from diffusion.samplers_base import Denoise, NoiseSampler, floats, report
from diffusion.types import StepCallback


def _h_phi_1(h: float) -> float:
    return math.expm1(h)


def _h_phi_2(h: float) -> float:
    return (math.expm1(h) - h) / h if h else 0.0


def _carry(noise: torch.Tensor, decay_log: float, fresh: torch.Tensor) -> torch.Tensor:
    """Noise of the earlier stages decayed by exp(decay_log), topped up to unit variance."""
    return noise * math.exp(decay_log) + fresh * math.sqrt(-math.expm1(2 * decay_log))


def _first_stage(x: torch.Tensor, denoised: torch.Tensor, sigma: float, h: float, eta: float, r: float,
                 noise_sampler: Optional[NoiseSampler], s_noise: float
                 ) -> tuple[float, torch.Tensor, Optional[torch.Tensor]]:
    """Exponential Euler from sigma to the stage at lambda + r h: its sigma, its x and, with
    a noise sampler, the stage's unit-variance noise (carried into the next stage)."""
    mid = sigma * math.exp(-r * h)
    x_2 = (mid / sigma) * math.exp(-r * h * eta) * x - _h_phi_1(-r * h * (eta + 1)) * denoised
    noise = None
    if noise_sampler is not None:
        noise = math.sqrt(-math.expm1(-2 * r * h * eta)) * noise_sampler(sigma, mid)
        x_2 = x_2 + noise * (mid * s_noise)
    return mid, x_2, noise


def sample_seeds_2(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5,
    solver_type: str = "phi_1",
) -> torch.Tensor:
    """Two stages a step: an exponential Euler sub-step to lambda + r h, then the full step."""
    if solver_type not in ("phi_1", "phi_2"):
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    s = floats(sigmas)
    noisy = noise_sampler if eta > 0 and s_noise > 0 else None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
            report(callback, i, len(s) - 1, x, denoised, s[i + 1])
            continue
        h = math.log(s[i] / s[i + 1])
        h_eta = h * (eta + 1)
        mid, x_2, noise = _first_stage(x, denoised, s[i], h, eta, r, noisy, s_noise)
        denoised_2 = denoiser(x_2, mid)
        if solver_type == "phi_1":
            blend = torch.lerp(denoised, denoised_2, 1 / (2 * r))
            x = (s[i + 1] / s[i]) * math.exp(-h * eta) * x - _h_phi_1(-h_eta) * blend
        else:
            b2 = _h_phi_2(-h_eta) / r
            b1 = _h_phi_1(-h_eta) - b2
            x = (s[i + 1] / s[i]) * math.exp(-h * eta) * x - (b1 * denoised + b2 * denoised_2)
        if noise is not None:
            noise = _carry(noise, (r - 1) * h * eta, noise_sampler(mid, s[i + 1]))
            x = x + noise * (s[i + 1] * s_noise)
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_seeds_3(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, eta: float = 1.0, s_noise: float = 1.0, r_1: float = 1.0 / 3,
    r_2: float = 2.0 / 3,
) -> torch.Tensor:
    """Three stages a step, at lambda + r_1 h and lambda + r_2 h, then the full step."""
    s = floats(sigmas)
    noisy = noise_sampler if eta > 0 and s_noise > 0 else None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
            report(callback, i, len(s) - 1, x, denoised, s[i + 1])
            continue
        h = math.log(s[i] / s[i + 1])
        h_eta = h * (eta + 1)
        mid_1, x_2, noise = _first_stage(x, denoised, s[i], h, eta, r_1, noisy, s_noise)
        mid_2 = s[i] * math.exp(-r_2 * h)
        denoised_2 = denoiser(x_2, mid_1)
        a2 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
        a1 = _h_phi_1(-r_2 * h_eta) - a2
        x_3 = (mid_2 / s[i]) * math.exp(-r_2 * h * eta) * x - (a1 * denoised + a2 * denoised_2)
        if noise is not None:
            noise = _carry(noise, (r_1 - r_2) * h * eta, noise_sampler(mid_1, mid_2))
            x_3 = x_3 + noise * (mid_2 * s_noise)
        denoised_3 = denoiser(x_3, mid_2)
        b3 = _h_phi_2(-h_eta) / r_2
        b1 = _h_phi_1(-h_eta) - b3
        x = (s[i + 1] / s[i]) * math.exp(-h * eta) * x - (b1 * denoised + b3 * denoised_3)
        if noise is not None:
            noise = _carry(noise, (r_2 - 1) * h * eta, noise_sampler(mid_2, s[i + 1]))
            x = x + noise * (s[i + 1] * s_noise)
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_exp_heun_2_x0(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                         noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                         solver_type: str = "phi_2") -> torch.Tensor:
    """Deterministic exponential Heun in data prediction and log-SNR time."""
    return sample_seeds_2(denoiser, x, sigmas, noise_sampler=None, callback=callback, eta=0.0, s_noise=0.0,
                          r=1.0, solver_type=solver_type)


def sample_exp_heun_2_x0_sde(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                             noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                             eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "phi_2") -> torch.Tensor:
    """Stochastic exponential Heun (SEEDS-2 at r = 1)."""
    return sample_seeds_2(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=eta,
                          s_noise=s_noise, r=1.0, solver_type=solver_type)
