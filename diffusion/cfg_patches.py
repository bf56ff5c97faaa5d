"""The maths of the guidance patches ComfyUI's core nodes put on a MODEL's sampling hooks.

Each patch is a plain function over tensors (testable on hand-made values) plus a small
hook that reads it from the args dict the sampler passes (diffusion/guidance.py):

- `sampler_cfg_function` hooks get `cond` / `uncond` as noise (x - denoised) and return
  the guided noise;
- `sampler_pre_cfg_function` hooks get `conds_out` (denoised per conditioning list) and
  return it changed;
- `sampler_post_cfg_function` hooks get the guided `denoised` and return a new one.

Latents are [B, C, H, W] with sigma per row, in k-diffusion's form x = x0 + sigma * eps.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

EPS = 1e-8


def _rows(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """sigma per row as a column that broadcasts over `like`."""
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    return s.view(s.shape[:1] + (1,) * (like.ndim - 1))


# -- RescaleCFG ---------------------------------------------------------------------


def rescale_cfg(cond: torch.Tensor, uncond: torch.Tensor, cond_scale: float, sigma: torch.Tensor,
                x: torch.Tensor, multiplier: float) -> torch.Tensor:
    """CFG done on v-predictions, its result's spread pulled back to the cond's by
    `multiplier` (0: plain CFG). cond/uncond and the result are noise (x - denoised)."""
    s = _rows(sigma, cond)
    norm = (s * s + 1.0) ** 0.5
    x_scaled = x / (s * s + 1.0)
    v_cond = (x_scaled - (x - cond)) * norm / s
    v_uncond = (x_scaled - (x - uncond)) * norm / s
    v_cfg = v_uncond + cond_scale * (v_cond - v_uncond)
    spread = torch.std(v_cond, dim=tuple(range(1, cond.ndim)), keepdim=True)
    spread_cfg = torch.std(v_cfg, dim=tuple(range(1, cond.ndim)), keepdim=True)
    v_final = multiplier * v_cfg * (spread / spread_cfg) + (1.0 - multiplier) * v_cfg
    return x - (x_scaled - v_final * s / norm)


def rescale_cfg_hook(multiplier: float):
    def hook(args: dict) -> torch.Tensor:
        return rescale_cfg(args["cond"], args["uncond"], args["cond_scale"], args["sigma"], args["input"],
                           multiplier)

    return hook


# -- CFGZeroStar, CFGNorm, Mahiro, Epsilon Scaling (post-cfg) -------------------------------


def optimized_scale(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Per row, the factor that best fits `negative` to `positive` (least squares):
    <positive, negative> / |negative|^2, shaped to broadcast."""
    pos = positive.reshape(positive.shape[0], -1)
    neg = negative.reshape(negative.shape[0], -1)
    alpha = (pos * neg).sum(dim=1, keepdim=True) / ((neg * neg).sum(dim=1, keepdim=True) + EPS)
    return alpha.reshape([positive.shape[0]] + [1] * (positive.ndim - 1))


def cfg_zero_star(denoised: torch.Tensor, cond_denoised: torch.Tensor, uncond_denoised: torch.Tensor,
                  x: torch.Tensor, cond_scale: float) -> torch.Tensor:
    """CFG-Zero*: the uncond term of the guided estimate scaled by the optimised factor
    alpha of the two noise predictions, i.e. uncond*alpha + scale*(cond - uncond*alpha)."""
    alpha = optimized_scale(x - cond_denoised, x - uncond_denoised)
    return denoised + uncond_denoised * (alpha - 1.0) + cond_scale * uncond_denoised * (1.0 - alpha)


def cfg_zero_star_hook(args: dict) -> torch.Tensor:
    return cfg_zero_star(args["denoised"], args["cond_denoised"], args["uncond_denoised"], args["input"],
                         args["cond_scale"])


def cfg_norm(denoised: torch.Tensor, cond_denoised: torch.Tensor, strength: float) -> torch.Tensor:
    """Where the guided estimate's channel norm exceeds the cond's, shrink it to the cond's
    (never grow it); then times `strength`."""
    cond_norm = torch.norm(cond_denoised, dim=1, keepdim=True)
    guided_norm = torch.norm(denoised, dim=1, keepdim=True)
    scale = (cond_norm / (guided_norm + EPS)).clamp(min=0.0, max=1.0)
    return denoised * scale * strength


def cfg_norm_hook(strength: float):
    def hook(args: dict) -> torch.Tensor:
        return cfg_norm(args["denoised"], args["cond_denoised"], strength)

    return hook


def _signed_sqrt(t: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(t.abs()) * t.sign()


def mahiro(denoised: torch.Tensor, cond_denoised: torch.Tensor, uncond_denoised: torch.Tensor,
           cond_scale: float) -> torch.Tensor:
    """Mix the CFG result with the cond scaled alone ("leap"), by how similar the uncond's
    leap is to their mean (cosine over channels of signed square roots, averaged): the more
    alike, the more CFG is kept."""
    leap = cond_denoised * cond_scale
    uncond_leap = uncond_denoised * cond_scale
    merged = (leap + denoised) / 2
    similarity = F.cosine_similarity(_signed_sqrt(uncond_leap), _signed_sqrt(merged)).mean()
    weight = 2 * (similarity + 1)  # 0..4
    return (weight * denoised + (4 - weight) * leap) / 4


def mahiro_hook(args: dict) -> torch.Tensor:
    return mahiro(args["denoised"], args["cond_denoised"], args["uncond_denoised"], args["cond_scale"])


def epsilon_scaling(denoised: torch.Tensor, x: torch.Tensor, factor: float) -> torch.Tensor:
    """The guided noise prediction divided by `factor` (exposure-bias correction)."""
    return x - (x - denoised) / (factor or 1e-9)


def epsilon_scaling_hook(factor: float):
    def hook(args: dict) -> torch.Tensor:
        return epsilon_scaling(args["denoised"], args["input"], factor)

    return hook


# -- APG, TCFG, FreSca (pre-cfg) ----------------------------------------------------------


def project(v0: torch.Tensor, v1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """v0's parts parallel and orthogonal to v1, per (C, H, W) block."""
    unit = F.normalize(v1, dim=[-1, -2, -3])
    parallel = (v0 * unit).sum(dim=[-1, -2, -3], keepdim=True) * unit
    return parallel, v0 - parallel


def apg_cond(cond: torch.Tensor, uncond: torch.Tensor, guidance: torch.Tensor, cond_scale: float,
             eta: float, norm_threshold: float) -> torch.Tensor:
    """The cond that makes plain CFG give APG's result for `guidance` (cond - uncond, or its
    running average): its norm capped at `norm_threshold` (0: no cap), its part parallel to
    the cond scaled by `eta`."""
    if norm_threshold > 0:
        norm = guidance.norm(p=2, dim=[-1, -2, -3], keepdim=True)
        guidance = guidance * torch.minimum(torch.ones_like(norm), norm_threshold / norm)
    parallel, orthogonal = project(guidance, cond)
    return uncond + orthogonal + eta * parallel + (cond - uncond) / cond_scale


class AdaptiveProjectedGuidance:
    """APG's pre-cfg hook; keeps the running average of the guidance across steps (a new
    run, seen as sigma going up again, starts it afresh)."""

    def __init__(self, eta: float, norm_threshold: float, momentum: float) -> None:
        self.eta, self.norm_threshold, self.momentum = eta, norm_threshold, momentum
        self.running_avg: Optional[torch.Tensor] = None
        self.prev_sigma: Optional[float] = None

    def guidance(self, cond: torch.Tensor, uncond: torch.Tensor, sigma: float) -> torch.Tensor:
        if self.prev_sigma is not None and sigma > self.prev_sigma:
            self.running_avg = None
        self.prev_sigma = sigma
        guidance = cond - uncond
        if self.momentum != 0:
            if self.running_avg is not None:
                guidance = self.momentum * self.running_avg + guidance
            self.running_avg = guidance
        return guidance

    def __call__(self, args: dict) -> list:
        outs = args["conds_out"]
        if len(outs) == 1:
            return outs
        cond, uncond = outs[0], outs[1]
        guidance = self.guidance(cond, uncond, float(torch.as_tensor(args["sigma"]).reshape(-1)[0]))
        new_cond = apg_cond(cond, uncond, guidance, args["cond_scale"], self.eta, self.norm_threshold)
        return [new_cond, uncond] + list(outs[2:])


def _has_both(args: dict) -> bool:
    return len(args["conds_out"]) > 1 and None not in list(args.get("conds", [0, 0]))[:2]


def tangential_damping(cond_score: torch.Tensor, uncond_score: torch.Tensor) -> torch.Tensor:
    """The uncond score projected on the first right-singular vector of [uncond; cond]
    (per row): its components tangential to what the two share are dropped."""
    rows = cond_score.shape[0]
    cond_flat = cond_score.reshape(rows, 1, -1).float()
    uncond_flat = uncond_score.reshape(rows, 1, -1).float()
    stacked = torch.cat((uncond_flat, cond_flat), dim=1)
    try:
        _, _, vh = torch.linalg.svd(stacked, full_matrices=False)
    except RuntimeError:  # some accelerators lack this SVD
        _, _, vh = torch.linalg.svd(stacked.cpu(), full_matrices=False)
    top = vh[:, 0:1, :].to(uncond_flat.device)
    damped = (uncond_flat @ top.transpose(-2, -1)) * top
    return damped.reshape_as(uncond_score).to(uncond_score.dtype)


def tcfg_hook(args: dict) -> list:
    outs = args["conds_out"]
    if not _has_both(args):
        return outs
    x, cond, uncond = args["input"], outs[0], outs[1]
    return [cond, x - tangential_damping(x - cond, x - uncond)] + list(outs[2:])


def fourier_filter(x: torch.Tensor, scale_low: float = 1.0, scale_high: float = 1.5,
                   freq_cutoff: int = 20) -> torch.Tensor:
    """x with its spatial frequencies scaled: the centred 2*cutoff square of the shifted
    spectrum (per spatial dim, at most the whole) by `scale_low`, the rest by `scale_high`."""
    spectrum = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    scale = torch.full(spectrum.shape, float(scale_high), device=x.device)
    low = scale
    for dim in range(2, spectrum.ndim):
        centre = spectrum.shape[dim] // 2
        half = min(freq_cutoff, centre)
        low = low.narrow(dim, centre - half, half * 2)
    low.fill_(float(scale_low))
    spectrum = torch.fft.ifftshift(spectrum * scale, dim=(-2, -1))
    return torch.fft.ifftn(spectrum, dim=(-2, -1)).real.to(x.dtype)


def fresca_hook(scale_low: float, scale_high: float, freq_cutoff: int):
    def hook(args: dict) -> list:
        outs = args["conds_out"]
        if not _has_both(args):
            return outs
        cond, uncond = outs[0], outs[1]
        filtered = fourier_filter(cond - uncond, scale_low, scale_high, freq_cutoff)
        return [filtered + uncond, uncond] + list(outs[2:])

    return hook


# -- Differential Diffusion (denoise mask function) ----------------------------------------


def differential_mask(mask: torch.Tensor, sigma: torch.Tensor, step_sigmas: torch.Tensor, sampling: Any,
                      strength: float = 1.0) -> torch.Tensor:
    """The inpainting mask for this step: 1 where the soft mask reaches how far sampling
    has come (in timesteps, 1 at the first step's sigma, 0 at the last or the model's
    smallest), else 0; blended with the soft mask when strength < 1.

    `sampling` has `timestep(sigma)` and `sigma_min` (a ModelSampling)."""
    sigma_to = max(float(sampling.sigma_min), float(step_sigmas[-1]))
    sigma_from = float(step_sigmas[0])
    ts_from = sampling.timestep(torch.tensor(sigma_from))
    ts_to = sampling.timestep(torch.tensor(sigma_to))
    current = sampling.timestep(torch.as_tensor(sigma).reshape(-1)[:1].cpu().float())[0]
    threshold = float((current - ts_to) / (ts_from - ts_to))
    binary = (mask >= threshold).to(mask.dtype)
    if strength and strength < 1:
        return strength * binary + (1 - strength) * mask
    return binary


def model_sampling_of(extra_options: dict) -> Any:
    """The ModelSampling for a denoise-mask call: given as such, or found on the model
    passed (ComfyUI's guider: .inner_model.model_sampling; this project's denoiser: .sampling)."""
    if extra_options.get("model_sampling") is not None:
        return extra_options["model_sampling"]
    model = extra_options.get("model")
    inner = getattr(model, "inner_model", None)
    for owner, name in ((inner, "model_sampling"), (model, "sampling"), (model, "model_sampling")):
        found = getattr(owner, name, None) if owner is not None else None
        if found is not None:
            return found
    getter = getattr(model, "get_model_object", None)
    if getter is not None:
        return getter("model_sampling")
    raise ValueError("DifferentialDiffusion: the sampler passed no model sampling with the denoise mask call")


class DifferentialMask:
    """The denoise_mask_function of DifferentialDiffusion, in ComfyUI's calling form
    fn(sigma, denoise_mask, extra_options={"model": ..., "sigmas": step sigmas})."""

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = strength

    def __call__(self, sigma: torch.Tensor, denoise_mask: torch.Tensor, extra_options: dict) -> torch.Tensor:
        return differential_mask(denoise_mask, sigma, extra_options["sigmas"], model_sampling_of(extra_options),
                                 self.strength)
