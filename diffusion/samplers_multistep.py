"""Later multistep samplers ComfyUI lists: RES, gradient estimation and variable-step iPNDM.

RES (Zhang et al. 2023, "Improved order analysis and design of exponential integrator
for diffusion models") is a second-order exponential multistep method in lambda =
-log(sigma) whose weights come from phi functions and the spacing of the last two steps;
its ancestral form steps to sigma_down and adds noise up to sigma_next. Gradient
estimation (Permenter & Yuan 2024) extrapolates Euler's direction with the previous
one's change. iPNDM-v is Adams-Bashforth of up to fourth order with coefficients for
uneven steps (Zhou et al. 2024). The CFG++ forms step along the unconditional prediction.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from diffusion.samplers_base import Denoise, NoiseSampler, ancestral_step, floats, report, to_d
from diffusion.samplers_extra import UncondHolder
from diffusion.types import StepCallback


def _phi_weights(h: float, c2: float) -> tuple[float, float]:
    """RES's weights of the newest and the previous prediction (0 where undefined)."""
    if h == 0:
        return 0.0, 0.0
    phi1 = math.expm1(-h) / -h
    phi2 = (phi1 - 1.0) / -h
    b2 = phi2 / c2 if c2 else 0.0
    b1 = phi1 - b2
    return (b1 if math.isfinite(b1) else 0.0), (b2 if math.isfinite(b2) else 0.0)


def _res_multistep(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler],
    callback: Optional[StepCallback], eta: float, s_noise: float, uncond: Optional[UncondHolder],
) -> torch.Tensor:
    s = floats(sigmas)
    old: Optional[torch.Tensor] = None
    old_down = 0.0
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        direction = uncond.value if uncond is not None else denoised
        down, up = ancestral_step(s[i], s[i + 1], eta)
        if down == 0 or old is None:
            if uncond is not None:
                x = denoised + to_d(x, s[i], direction) * down
            else:
                x = x + to_d(x, s[i], denoised) * (down - s[i])
        else:
            lam, lam_next = -math.log(s[i]), -math.log(down)
            h = lam_next - lam
            c2 = (-math.log(s[i - 1]) + math.log(old_down)) / h
            b1, b2 = _phi_weights(h, c2)
            if uncond is not None:
                x = x + (denoised - direction)
            x = math.exp(-h) * x + h * (b1 * direction + b2 * old)
        if s[i + 1] > 0 and eta > 0 and noise_sampler is not None:
            x = x + noise_sampler(s[i], s[i + 1]) * (s_noise * up)
        old, old_down = direction, down
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_res_multistep(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                         noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                         s_noise: float = 1.0) -> torch.Tensor:
    """RES second-order multistep, deterministic."""
    return _res_multistep(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=0.0,
                          s_noise=s_noise, uncond=None)


def sample_res_multistep_cfg_pp(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                                noise_sampler: Optional[NoiseSampler] = None,
                                callback: Optional[StepCallback] = None, uncond: UncondHolder,
                                s_noise: float = 1.0) -> torch.Tensor:
    """RES along the unconditional prediction (CFG++), deterministic."""
    return _res_multistep(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=0.0,
                          s_noise=s_noise, uncond=uncond)


def sample_res_multistep_ancestral(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                                   noise_sampler: Optional[NoiseSampler] = None,
                                   callback: Optional[StepCallback] = None, eta: float = 1.0,
                                   s_noise: float = 1.0) -> torch.Tensor:
    """RES to sigma_down, then fresh noise up to sigma_next."""
    return _res_multistep(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=eta,
                          s_noise=s_noise, uncond=None)


def sample_res_multistep_ancestral_cfg_pp(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                                          noise_sampler: Optional[NoiseSampler] = None,
                                          callback: Optional[StepCallback] = None, uncond: UncondHolder,
                                          eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """Ancestral RES along the unconditional prediction (CFG++)."""
    return _res_multistep(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=eta,
                          s_noise=s_noise, uncond=uncond)


def _gradient_estimation(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, callback: Optional[StepCallback],
    ge_gamma: float, uncond: Optional[UncondHolder],
) -> torch.Tensor:
    s = floats(sigmas)
    old_d: Optional[torch.Tensor] = None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        d = to_d(x, s[i], uncond.value if uncond is not None else denoised)
        dt = s[i + 1] - s[i]
        if s[i + 1] == 0:
            x = denoised
        else:
            x = denoised + d * s[i + 1] if uncond is not None else x + d * dt
            if old_d is not None:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_gradient_estimation(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                               noise_sampler: Optional[NoiseSampler] = None,
                               callback: Optional[StepCallback] = None, ge_gamma: float = 2.0) -> torch.Tensor:
    """Euler whose direction is extrapolated by (gamma - 1) times its last change."""
    return _gradient_estimation(denoiser, x, sigmas, callback=callback, ge_gamma=ge_gamma, uncond=None)


def sample_gradient_estimation_cfg_pp(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                                      noise_sampler: Optional[NoiseSampler] = None,
                                      callback: Optional[StepCallback] = None, uncond: UncondHolder,
                                      ge_gamma: float = 2.0) -> torch.Tensor:
    """Gradient estimation along the unconditional prediction (CFG++)."""
    return _gradient_estimation(denoiser, x, sigmas, callback=callback, ge_gamma=ge_gamma, uncond=uncond)


def _ipndm_v_weights(h: list[float], order: int) -> list[float]:
    """Weights of d_n, d_n-1, ... for uneven steps; h[0] is this step, h[k] the k-th before."""
    if order == 1:
        return [1.0]
    q = h[0] / h[1]
    if order == 2:
        return [(2 + q) / 2, -q / 2]
    third = (1 - h[0] / (3 * (h[0] + h[1])) * (h[0] * (h[0] + h[1])) / (h[1] * (h[1] + h[2]))) / 2
    if order == 3:
        return [(2 + q) / 2 + third, -q / 2 - (1 + h[1] / h[2]) * third, third * h[1] / h[2]]
    span = h[1] * (h[1] + h[2]) / (h[2] * (h[2] + h[3]))
    fourth = ((1 - h[0] / (3 * (h[0] + h[1]))) / 2
              + (1 - h[0] / (2 * (h[0] + h[1]))) * h[0] / (6 * (h[0] + h[1] + h[2]))) \
        * (h[0] * (h[0] + h[1]) * (h[0] + h[1] + h[2])) / (h[1] * (h[1] + h[2]) * (h[1] + h[2] + h[3]))
    return [
        (2 + q) / 2 + third + fourth,
        -q / 2 - (1 + h[1] / h[2]) * third - (1 + h[1] / h[2] + span) * fourth,
        third * h[1] / h[2] + (h[1] / h[2] + span * (1 + h[2] / h[3])) * fourth,
        -fourth * span * h[1] / h[2],
    ]


def sample_ipndm_v(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                   noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                   max_order: int = 4) -> torch.Tensor:
    """iPNDM with step-size-aware Adams-Bashforth weights (up to fourth order)."""
    s = floats(sigmas)
    history: list[torch.Tensor] = []  # newest first
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        d = to_d(x, s[i], denoised)
        order = min(max_order, i + 1)
        if s[i + 1] == 0:
            x = denoised
        else:
            steps = [s[i + 1] - s[i]] + [s[i - k] - s[i - k - 1] for k in range(order - 1)]
            weights = _ipndm_v_weights(steps, order)
            slope = d * weights[0]
            for w, past in zip(weights[1:], history):
                slope = slope + past * w
            x = x + slope * steps[0]
        history = [d] + history[:max_order - 2]
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x
