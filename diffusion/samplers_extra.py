"""Samplers only the SAMPLER nodes offer (and the CFG++ pair KSampler lists too).

Same signature as the registry's samplers. The CFG++ samplers (Chung et al. 2024) step
along the *unconditional* prediction's noise; they get it through `uncond`, a holder the
sampling entry point fills from a post-cfg hook on each model call.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from diffusion.samplers_base import Denoise, NoiseSampler, ancestral_step, floats, report
from diffusion.samplers_dpmpp import dpmpp_2s_step
from diffusion.types import StepCallback


class UncondHolder:
    """The latest unconditional prediction, set by a post-cfg hook during each model call."""

    def __init__(self) -> None:
        self.value: Optional[torch.Tensor] = None

    def hook(self, args: dict) -> torch.Tensor:
        self.value = args["uncond_denoised"]
        return args["denoised"]


def sample_euler_ancestral_cfg_pp(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, uncond: UncondHolder, eta: float = 1.0, s_noise: float = 1.0,
) -> torch.Tensor:
    """Euler ancestral whose step direction is the unconditional prediction's noise."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        report(callback, i, len(s) - 1, x, denoised, s[i])
        if s[i + 1] == 0:
            x = denoised
            continue
        d = (x - uncond.value) / s[i]
        down, up = ancestral_step(s[i], s[i + 1], eta)
        x = denoised + d * down
        if eta > 0 and s_noise > 0 and noise_sampler is not None:
            x = x + noise_sampler(s[i], s[i + 1]) * s_noise * up
    return x


def sample_euler_cfg_pp(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                        noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                        uncond: UncondHolder) -> torch.Tensor:
    """CFG++ Euler: the deterministic (eta 0) case of the ancestral one."""
    return sample_euler_ancestral_cfg_pp(denoiser, x, sigmas, noise_sampler=None, callback=callback,
                                         uncond=uncond, eta=0.0, s_noise=0.0)


def sample_euler_cfg_pp_alternative(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                                    noise_sampler: Optional[NoiseSampler] = None,
                                    callback: Optional[StepCallback] = None, uncond: UncondHolder) -> torch.Tensor:
    """The other CFG++ Euler form: the guided derivative shifted by the guidance term."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        d = (x - denoised + uncond.value - denoised) / s[i]
        report(callback, i, len(s) - 1, x, denoised, s[i])
        x = x + d * (s[i + 1] - s[i])
    return x


def _uncond_at(denoiser: Denoise, uncond: UncondHolder, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The unconditional prediction at (x, sigma): one guided call, its uncond kept."""
    denoiser(x, sigma)
    return uncond.value


def sample_dpmpp_2m_cfg_pp(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
                           noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
                           uncond: UncondHolder) -> torch.Tensor:
    """DPM-Solver++(2M) whose exponential step renoises along the unconditional prediction;
    the guided one enters whole and the second-order term uses the last unconditional one."""
    s = floats(sigmas)
    old_uncond: Optional[torch.Tensor] = None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        current = uncond.value
        if s[i + 1] == 0:
            x = denoised
        else:
            h = math.log(s[i] / s[i + 1])
            mix = -math.exp(-h) * current
            if old_uncond is not None:
                r = math.log(s[i - 1] / s[i]) / h
                mix = mix - math.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
            x = denoised + mix + math.exp(-h) * x
        old_uncond = current
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_dpmpp_2s_ancestral_cfg_pp(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, uncond: UncondHolder, eta: float = 1.0, s_noise: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver++(2S) ancestral on the unconditional predictions, then the first call's
    guidance (guided minus unconditional) added back."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        first = uncond.value
        guidance = denoised - first
        down, up = ancestral_step(s[i], s[i + 1], eta)
        if down == 0:
            x = first
        else:
            x = dpmpp_2s_step(x, s[i], down, first, lambda x_mid, mid: _uncond_at(denoiser, uncond, x_mid, mid))
        if s[i + 1] > 0 and noise_sampler is not None:
            x = x + noise_sampler(s[i], s[i + 1]) * (s_noise * up)
        x = x + guidance
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def _er_sde_scaler(value: torch.Tensor) -> torch.Tensor:
    return value * ((value ** 0.3).exp() + 10.0)


def sample_er_sde(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, s_noise: float = 1.0,
    noise_scaler: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, max_stage: int = 3,
) -> torch.Tensor:
    """Extended reverse-time SDE solver (Cui et al. 2023), up to third order, in sigma form
    (alpha = 1, lambda = sigma); its integrals are taken on 200 points as in the paper's code."""
    scaler = noise_scaler or _er_sde_scaler
    lambdas = sigmas.to(torch.float32).cpu()
    points = torch.arange(0, 200, dtype=torch.float32)
    old_denoised: Optional[torch.Tensor] = None
    old_denoised_d: Optional[torch.Tensor] = None
    for i in range(len(lambdas) - 1):
        sigma, nxt = float(lambdas[i]), float(lambdas[i + 1])
        denoised = denoiser(x, sigma)
        report(callback, i, len(lambdas) - 1, x, denoised, sigma)
        stage = min(max_stage, i + 1)
        if nxt == 0:
            x = denoised
            continue
        lam_s, lam_t = lambdas[i], lambdas[i + 1]
        r = float(scaler(lam_t) / scaler(lam_s))
        x = r * x + (1 - r) * denoised
        if stage >= 2:
            dt = float(lam_t - lam_s)
            step = -dt / 200.0
            pos = lam_t + points * step
            scaled = scaler(pos)
            integral = float(torch.sum(1 / scaled) * step)
            denoised_d = (denoised - old_denoised) / float(lam_s - lambdas[i - 1])
            x = x + (dt + integral * float(scaler(lam_t))) * denoised_d
            if stage >= 3:
                integral_u = float(torch.sum((pos - lam_s) / scaled) * step)
                denoised_u = (denoised_d - old_denoised_d) / (float(lam_s - lambdas[i - 2]) / 2)
                x = x + (dt ** 2 / 2 + integral_u * float(scaler(lam_t))) * denoised_u
            old_denoised_d = denoised_d
        if s_noise > 0 and noise_sampler is not None:
            spread = float(lam_t ** 2 - lam_s ** 2 * r ** 2)
            if spread > 0:
                x = x + noise_sampler(sigma, nxt) * s_noise * spread ** 0.5
        old_denoised = denoised
    return x


def _resize(x: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    if method == "bislerp":
        from diffusion.latent_resize import bislerp

        return bislerp(x, width, height)
    if method == "nearest-exact":
        return F.interpolate(x, size=(height, width), mode="nearest-exact")
    if method in ("bilinear", "bicubic"):
        return F.interpolate(x, size=(height, width), mode=method, align_corners=False)
    return F.interpolate(x, size=(height, width), mode="area")


def sample_lcm_upscale(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, total_upscale: float = 2.0, upscale_method: str = "bislerp",
    upscale_steps: Optional[int] = None,
) -> torch.Tensor:
    """LCM that also enlarges the latent over its first steps, up to `total_upscale`."""
    s = floats(sigmas)
    count = max(len(s) // 2 + 1, 2) if upscale_steps is None else min(upscale_steps + 1, len(s) + 1)
    scales = np.linspace(1.0, total_upscale, count)[1:]
    height, width = x.shape[-2:]
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        report(callback, i, len(s) - 1, x, denoised, s[i])
        x = denoised
        if i < len(scales):
            x = _resize(x, round(width * scales[i]), round(height * scales[i]), upscale_method)
        if s[i + 1] > 0:
            x = x + s[i + 1] * _noise_like(noise_sampler, x, s[i], s[i + 1])
    return x


def _noise_like(noise_sampler: Optional[NoiseSampler], like: torch.Tensor, sigma: float, nxt: float) -> torch.Tensor:
    """Fresh noise the size of `like` (the latent grows) from the run's seeded generator."""
    generator = getattr(noise_sampler, "generator", None)
    if generator is None:
        if noise_sampler is None:
            raise ValueError("this sampler needs a noise source")
        return noise_sampler(sigma, nxt)
    return torch.randn(tuple(like.shape), generator=generator, dtype=like.dtype, device=generator.device).to(like)


def scaled_noise(noise_sampler: Optional[NoiseSampler], s_noise: float) -> Optional[NoiseSampler]:
    """A noise source whose draws are multiplied by s_noise (ComfyUI's s_noise option)."""
    if noise_sampler is None or s_noise == 1.0:
        return noise_sampler

    def draw(sigma: float, sigma_next: float) -> Any:
        return noise_sampler(sigma, sigma_next) * s_noise

    return draw
