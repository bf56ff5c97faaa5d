"""The KSampler entry point: seed, schedule, noise, guidance, inpainting mask, sampler.

Semantics follow ComfyUI's KSampler / KSamplerAdvanced so that a workflow's seed,
steps, denoise and step range select the same sigmas and the same starting noise.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from diffusion.denoiser import MaskedDenoiser, ModelDenoiser
from diffusion.samplers import SAMPLER_NAMES, BrownianNoiseSampler, GaussianNoiseSampler, get_sampler
from diffusion.schedules import SCHEDULER_NAMES, compute_sigmas, model_sigmas
from diffusion.types import Conditioning, StepCallback, UNetLike

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES", "prepare_noise", "calculate_sigmas", "sample"]


def prepare_noise(latent: torch.Tensor, seed: int) -> torch.Tensor:
    """The starting noise for a seed: as torch.manual_seed(seed); torch.randn(shape) on the CPU,
    so that one seed gives one image whatever the device."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return torch.randn(tuple(latent.shape), generator=g, dtype=torch.float32, device="cpu")


def calculate_sigmas(
    model: UNetLike, sampler_name: str, scheduler: str, steps: int, denoise: float = 1.0
) -> torch.Tensor:
    """KSampler's sigmas: partial denoise keeps the tail of a longer schedule.

    dpm_2 and uni_pc samplers schedule one step more and drop the next-to-last sigma,
    as ComfyUI does (their last step to 0 is cheap). An empty tensor means "nothing to do".
    """
    if steps <= 0 or denoise <= 0.0:
        return torch.zeros(0)
    spec = get_sampler(sampler_name)
    full = steps if denoise > 0.9999 else int(steps / denoise)
    if spec.discard_penultimate_sigma:
        full += 1
    sigmas = compute_sigmas(model_sigmas(model.alphas_cumprod), scheduler, full)
    if spec.discard_penultimate_sigma:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas if denoise > 0.9999 else sigmas[-(steps + 1):]


def _slice(
    sigmas: torch.Tensor, start_step: Optional[int], last_step: Optional[int], force_full_denoise: bool
) -> torch.Tensor:
    """KSamplerAdvanced's step range; force_full_denoise only matters when the range ends early."""
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0.0
    if start_step is not None:
        sigmas = sigmas[start_step:] if start_step < len(sigmas) - 1 else sigmas[:0]
    return sigmas


def _prepare_mask(mask: torch.Tensor, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Any [h,w] / [B,h,w] / [B,1,h,w] mask -> [B,1,h,w] float at latent resolution."""
    m = mask.to(device, torch.float32)
    m = m.reshape(-1, 1, m.shape[-2], m.shape[-1])
    if tuple(m.shape[-2:]) != tuple(shape[-2:]):
        m = F.interpolate(m, size=tuple(shape[-2:]), mode="bilinear")
    batch = shape[0]
    if m.shape[0] < batch:
        m = m.repeat(math.ceil(batch / m.shape[0]), 1, 1, 1)
    return m[:batch]


def sample(
    model: UNetLike,
    latent: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    *,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    denoise: float = 1.0,
    add_noise: bool = True,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
    noise_mask: torch.Tensor | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Sample a latent (unscaled VAE space [B,4,h,w]); returns the result in the same space.

    Nothing to do (denoise 0, an empty step range) returns the input unchanged. At the
    model's largest sigma the noise is scaled by sqrt(1 + sigma^2), as ComfyUI does for a
    full denoise. A callback exception stops sampling and propagates.
    """
    spec = get_sampler(sampler_name)
    if scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {scheduler!r}; expected one of {SCHEDULER_NAMES}")
    sigmas = _slice(calculate_sigmas(model, sampler_name, scheduler, steps, denoise),
                    start_step, last_step, force_full_denoise)
    if len(sigmas) < 2:
        return latent.clone()

    device = torch.device(model.device)
    scale = float(model.latent_scale)
    clean = latent.to(device, torch.float32) * scale
    noise = prepare_noise(latent, seed).to(device) if add_noise else torch.zeros_like(clean)
    sigma0, sigma_max = float(sigmas[0]), float(model_sigmas(model.alphas_cumprod)[-1])
    full = math.isclose(sigma0, sigma_max, rel_tol=1e-5) or sigma0 > sigma_max
    x = clean + noise * (math.sqrt(1.0 + sigma0**2) if full else sigma0)

    denoiser = ModelDenoiser(model, positive, negative, cfg)
    mask = None
    if noise_mask is not None:
        mask = _prepare_mask(noise_mask, clean.shape, device)
        kept_noise = noise
        if spec.inpaint_noise_offset is not None:
            kept_noise = prepare_noise(latent, (int(seed) + spec.inpaint_noise_offset) % 2**64).to(device)
        denoiser = MaskedDenoiser(denoiser, clean, kept_noise, mask)

    noise_sampler = None
    if spec.noise == "gaussian":
        noise_sampler = GaussianNoiseSampler(x, seed)
    elif spec.noise == "brownian":
        noise_sampler = BrownianNoiseSampler(x, seed)

    out = spec.fn(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback)
    if mask is not None:
        assert isinstance(denoiser, MaskedDenoiser)
        out = out * mask + denoiser.noised_latent(float(sigmas[-1])) * (1.0 - mask)
    return (out / scale).to(latent.device, torch.float32)
