"""UniPC (Zhao et al. 2023): multistep predictor-corrector in lambda = -log(sigma).

Data-prediction form. Each step predicts x_next with UniP from the stored model
outputs, evaluates the model there, and corrects with UniC using that same
evaluation, which is reused by the next step, so the corrector costs no extra model
call. Written in k-diffusion's sigma form (alpha = 1), which is the VP form divided
by alpha. As in ComfyUI a final sigma of 0 is replaced by 0.001 (lambda must be finite).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from diffusion.samplers_base import Denoise, NoiseSampler, floats, report
from diffusion.types import StepCallback

_FINAL_SIGMA = 0.001


def _coefficients(rks: list[float], h: float, order: int, variant: str) -> tuple[torch.Tensor, list[float], float]:
    """R (Vandermonde of the ratios rk), b (phi-function terms / B(h)) and B(h)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    factorial = 1
    rows, b = [], []
    for k in range(1, order + 1):
        rows.append([rk ** (k - 1) for rk in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return torch.tensor(rows, dtype=torch.float64), b, b_h


def _update(
    denoiser: Denoise, x: torch.Tensor, models: list[torch.Tensor], lams: list[float], lam_t: float,
    order: int, variant: str, use_corrector: bool,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One UniPC step of the given order from lams[-1] to lam_t; returns x and the model output at the predictor."""
    m0, lam0 = models[-1], lams[-1]
    h = lam_t - lam0
    rks: list[float] = []
    d1s: list[torch.Tensor] = []
    for i in range(1, order):
        rk = (lams[-(i + 1)] - lam0) / h
        rks.append(rk)
        d1s.append((models[-(i + 1)] - m0) / rk)
    rks.append(1.0)
    R, b, b_h = _coefficients(rks, h, order, variant)
    sigma_ratio = math.exp(-h)  # sigma_t / sigma_prev
    x_base = sigma_ratio * x - math.expm1(-h) * m0

    if d1s:
        if order == 2:
            rhos_p = [0.5]
        else:
            rhos_p = torch.linalg.solve(R[:-1, :-1], torch.tensor(b[:-1], dtype=torch.float64)).tolist()
        x_t = x_base - b_h * sum(r * d for r, d in zip(rhos_p, d1s))
    else:
        x_t = x_base
    if not use_corrector:
        return x_t, None

    model_t = denoiser(x_t, math.exp(-lam_t))
    rhos_c = [0.5] if order == 1 else torch.linalg.solve(R, torch.tensor(b, dtype=torch.float64)).tolist()
    corr = sum((r * d for r, d in zip(rhos_c[:-1], d1s)), torch.zeros_like(x))
    x_t = x_base - b_h * (corr + rhos_c[-1] * (model_t - m0))
    return x_t, model_t


def _sample_unipc(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, callback: Optional[StepCallback], variant: str
) -> torch.Tensor:
    s = floats(sigmas)
    if len(s) < 2:
        return x
    reported = list(s)
    if s[-1] == 0:
        s[-1] = _FINAL_SIGMA
    steps = len(s) - 1
    order = 3 if len(s) > 4 else steps
    lam = [-math.log(v) for v in s]
    models = [denoiser(x, s[0])]
    lams = [lam[0]]
    for step in range(1, steps + 1):
        step_order = min(order, step, steps + 1 - step)
        use_corrector = step < steps
        x, model_x = _update(denoiser, x, models, lams, lam[step], step_order, variant, use_corrector)
        if step < steps:
            models.append(model_x if model_x is not None else denoiser(x, s[step]))
            lams.append(lam[step])
            del models[:-order], lams[:-order]
        report(callback, step - 1, steps, x, models[-1], reported[step])
    return x


def sample_uni_pc(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """UniPC, B(h) = h (bh1): the choice for few steps."""
    return _sample_unipc(denoiser, x, sigmas, callback, "bh1")


def sample_uni_pc_bh2(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """UniPC, B(h) = expm1(h) (bh2)."""
    return _sample_unipc(denoiser, x, sigmas, callback, "bh2")
