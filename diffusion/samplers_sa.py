"""SA-Solver (Xue et al., NeurIPS 2023): a stochastic Adams predictor-corrector method.

In half-log-SNR time lambda = -log(sigma), each step integrates the data prediction's
Lagrange interpolant against the SDE's exponential kernel; tau (the stochastic strength)
is eta inside [tau_end, tau_start] in sigma and 0 (an ODE step) outside. Coefficients are
worked out in float64 on the CPU; the latent work stays in its own dtype and device.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from diffusion.samplers_base import Denoise, NoiseSampler, report
from diffusion.types import StepCallback


def _exponential_moments(s: float, t: float, order: int, tau: float) -> torch.Tensor:
    """(1 + tau^2) times the integral from s to t of exp((1 + tau^2)(x - t)) x^p dx, p < order,
    by repeated integration by parts (a lower-triangular recursion)."""
    k = 1.0 + tau * tau
    h = t - s
    p = torch.arange(order, dtype=torch.float64)
    boundary = t ** p - s ** p * math.exp(-k * h)
    depth = p[:, None] - p[None, :]
    log_fact = (p + 1).lgamma()
    log_coeff = log_fact[:, None] - log_fact[None, :] - depth * math.log(k)
    sign = torch.where(depth.remainder(2) == 0, 1.0, -1.0).to(torch.float64)
    return torch.tril(log_coeff.exp() * sign) @ boundary


def _simple_order_2(sigma_next: float, lam_prev: float, lam_s: float, lam_t: float, tau: float,
                    corrector: bool) -> torch.Tensor:
    """The paper's cheaper second-order coefficients (its Appendix D)."""
    k = 1.0 + tau * tau
    h = lam_t - lam_s
    alpha = sigma_next * math.exp(lam_t)
    whole = alpha * -math.expm1(-h * k)
    if corrector:
        b1 = alpha * 0.5 * k * h
        return torch.tensor([whole - b1, b1], dtype=torch.float64)
    b2 = alpha * 0.5 * k * h * h / (lam_prev - lam_s)
    return torch.tensor([b2, whole - b2], dtype=torch.float64)


def adams_coefficients(sigma_next: float, lambdas: list[float], lam_s: float, lam_t: float, tau: float,
                       simple_order_2: bool = False, corrector: bool = False) -> torch.Tensor:
    """Weights of the stored data predictions (oldest first) for one step from lam_s to lam_t."""
    n = len(lambdas)
    if simple_order_2 and n == 2:
        return _simple_order_2(sigma_next, lambdas[-2], lam_s, lam_t, tau, corrector)
    moments = _exponential_moments(lam_s, lam_t, n, tau)
    points = torch.tensor(lambdas, dtype=torch.float64)
    vander = torch.vander(points, n, increasing=True).T
    return sigma_next * math.exp(lam_t) * torch.linalg.solve(vander, moments)


def _combine(preds: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    out = preds[0] * float(weights[0])
    for pred, w in zip(preds[1:], weights[1:]):
        out = out + pred * float(w)
    return out


def sample_sa_solver(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Optional[NoiseSampler] = None,
    callback: Optional[StepCallback] = None, tau_start: Optional[float] = None, tau_end: Optional[float] = None,
    eta: float = 1.0, s_noise: float = 1.0, predictor_order: int = 3, corrector_order: int = 4,
    use_pece: bool = False, simple_order_2: bool = False,
) -> torch.Tensor:
    """SA-Solver; with `use_pece` the corrected state is evaluated again (one more model call
    per step, a better prediction for the next one). KSampler passes the interval of 20% to
    80% of the model's sampling; without one the SDE part spans 20% to 80% of the schedule
    in log-sigma."""
    s = [float(v) for v in sigmas.detach().cpu().reshape(-1)]
    if len(s) <= 1:
        return x
    if tau_start is None or tau_end is None:
        top, bottom = math.log(s[0]), math.log(min(v for v in s if v > 0))
        tau_start = math.exp(top + (bottom - top) * 0.2) if tau_start is None else tau_start
        tau_end = math.exp(top + (bottom - top) * 0.8) if tau_end is None else tau_end

    def tau_at(sigma: float) -> float:
        return eta if eta > 0 and tau_start >= sigma >= tau_end else 0.0

    lambdas = [-math.log(v) if v > 0 else math.inf for v in s]
    keep = max(predictor_order, corrector_order)
    lower_to_end = s[-1] == 0
    x_pred, h, tau, noise = x, 0.0, 0.0, None
    preds: list[torch.Tensor] = []
    for i in range(len(s) - 1):
        denoised = denoiser(x_pred, s[i])
        report(callback, i, len(s) - 1, x_pred, denoised, s[i])
        preds = (preds + [denoised])[-keep:]
        p_order = min(predictor_order, len(preds))
        c_order = 0 if i == 0 or (s[i + 1] == 0 and not use_pece) else min(corrector_order, len(preds))
        if lower_to_end:
            p_order = min(p_order, len(s) - 2 - i)
            c_order = min(c_order, len(s) - 1 - i)
        if c_order == 0:
            x = x_pred
        else:
            weights = adams_coefficients(s[i], lambdas[i - c_order + 1:i + 1], lambdas[i - 1], lambdas[i], tau,
                                         simple_order_2, corrector=True)
            x = x * (s[i] / s[i - 1] * math.exp(-(tau ** 2) * h)) + _combine(preds[-c_order:], weights)
            if noise is not None:
                x = x + noise
            if use_pece:
                denoised = denoiser(x, s[i])
                preds[-1] = denoised
        if s[i + 1] == 0:
            x_pred = denoised
            continue
        tau = tau_at(s[i + 1])
        weights = adams_coefficients(s[i + 1], lambdas[i - p_order + 1:i + 1], lambdas[i], lambdas[i + 1], tau,
                                     simple_order_2)
        h = lambdas[i + 1] - lambdas[i]
        x_pred = x * (s[i + 1] / s[i] * math.exp(-(tau ** 2) * h)) + _combine(preds[-p_order:], weights)
        noise = None
        if tau > 0 and s_noise > 0 and noise_sampler is not None:
            noise = noise_sampler(s[i], s[i + 1]) * (s[i + 1] * math.sqrt(-math.expm1(-2 * tau ** 2 * h)) * s_noise)
            x_pred = x_pred + noise
    return x_pred


def sample_sa_solver_pece(denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, **options) -> torch.Tensor:
    return sample_sa_solver(denoiser, x, sigmas, **{**options, "use_pece": True})
