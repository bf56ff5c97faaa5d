"""DPM-Solver family: exponential integrators in lambda = -log(sigma).

DPM-Solver++ (Lu et al. 2022) integrates the data prediction exactly over a step of
h = lambda_next - lambda: x_next = (sigma_next/sigma) x - expm1(-h) D, plus
higher-order corrections from earlier (multistep) or intermediate (singlestep)
evaluations. The SDE variants add noise with the matching variance; they want a
Brownian noise source so that overlapping intervals are consistent.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from diffusion.samplers_base import Denoise, NoiseSampler, ancestral_step, floats, report, to_d
from diffusion.types import StepCallback


def dpmpp_2s_step(x: torch.Tensor, sigma: float, down: float, denoised: torch.Tensor,
                  predict: Callable[[torch.Tensor, float], torch.Tensor]) -> torch.Tensor:
    """DPM-Solver++(2S) from sigma to down: half the step in lambda with `denoised`, then
    the whole step with the prediction `predict` makes at that midpoint."""
    h = math.log(sigma / down)
    mid = sigma * math.exp(-h / 2)
    x_2 = (mid / sigma) * x - math.expm1(-h / 2) * denoised
    return (down / sigma) * x - math.expm1(-h) * predict(x_2, mid)


def sample_dpmpp_2s_ancestral(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
) -> torch.Tensor:
    """Second-order singlestep DPM-Solver++ to sigma_down, then ancestral noise."""
    s = floats(sigmas)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        down, up = ancestral_step(s[i], s[i + 1], eta)
        x = denoised if down == 0 else dpmpp_2s_step(x, s[i], down, denoised, denoiser)
        if s[i + 1] > 0:
            x = x + noise_sampler(s[i], s[i + 1]) * up
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def _midpoint_sigma(sigma: float, sigma_next: float, r: float) -> float:
    """The sub-step's sigma, exp(-lerp(lambda, lambda_next, r)), worked out in float32 as
    ComfyUI does: the Brownian tree is queried at this time, and a last-digit difference
    there moves the noise drawn (the tree resolves times to 1e-6)."""
    lam, lam_next = torch.tensor([sigma, sigma_next], dtype=torch.float32).log().neg()
    return float((lam + r * (lam_next - lam)).neg().exp())


def sample_dpmpp_sde(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0, r: float = 0.5,
) -> torch.Tensor:
    """DPM-Solver++(2S) SDE: two stochastic sub-steps per step, midpoint at ratio r."""
    s = floats(sigmas)
    fac = 1 / (2 * r)
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
        else:
            mid = _midpoint_sigma(s[i], s[i + 1], r)
            down, up = ancestral_step(s[i], mid, eta)
            x_2 = (down / s[i]) * x - math.expm1(math.log(down / s[i])) * denoised
            x_2 = x_2 + noise_sampler(s[i], mid) * up
            denoised_2 = denoiser(x_2, mid)
            down, up = ancestral_step(s[i], s[i + 1], eta)
            denoised_d = (1 - fac) * denoised + fac * denoised_2
            x = (down / s[i]) * x - math.expm1(math.log(down / s[i])) * denoised_d
            x = x + noise_sampler(s[i], s[i + 1]) * up
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_dpmpp_2m(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Second-order multistep DPM-Solver++: extrapolates D from the previous step."""
    s = floats(sigmas)
    old: Optional[torch.Tensor] = None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        if s[i + 1] == 0:
            x = denoised
        else:
            h = math.log(s[i] / s[i + 1])
            d = denoised
            if old is not None:
                r = math.log(s[i - 1] / s[i]) / h
                d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
            x = (s[i + 1] / s[i]) * x - math.expm1(-h) * d
        old = denoised
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_dpmpp_2m_sde(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
    solver_type: str = "midpoint",
) -> torch.Tensor:
    """Second-order multistep DPM-Solver++ SDE (midpoint or heun correction)."""
    s = floats(sigmas)
    old: Optional[torch.Tensor] = None
    h_last: Optional[float] = None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        h = None
        if s[i + 1] == 0:
            x = denoised
        else:
            h = math.log(s[i] / s[i + 1])
            eta_h = eta * h
            phi = -math.expm1(-h - eta_h)
            x = (s[i + 1] / s[i]) * math.exp(-eta_h) * x + phi * denoised
            if old is not None and h_last is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + (phi / (-h - eta_h) + 1) * (1 / r) * (denoised - old)
                else:
                    x = x + 0.5 * phi * (1 / r) * (denoised - old)
            if eta:
                x = x + noise_sampler(s[i], s[i + 1]) * (s[i + 1] * math.sqrt(-math.expm1(-2 * eta_h)))
        old, h_last = denoised, h
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


def sample_dpmpp_2m_sde_heun(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE with the Heun form of its second-order correction."""
    return sample_dpmpp_2m_sde(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, eta=eta,
                               solver_type="heun")


def sample_dpmpp_3m_sde(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: NoiseSampler, callback: Optional[StepCallback] = None, eta: float = 1.0,
) -> torch.Tensor:
    """Third-order multistep DPM-Solver++ SDE."""
    s = floats(sigmas)
    d_1: Optional[torch.Tensor] = None
    d_2: Optional[torch.Tensor] = None
    h_1: Optional[float] = None
    h_2: Optional[float] = None
    for i in range(len(s) - 1):
        denoised = denoiser(x, s[i])
        h = None
        if s[i + 1] == 0:
            x = denoised
        else:
            h = math.log(s[i] / s[i + 1])
            h_eta = h * (eta + 1)
            x = math.exp(-h_eta) * x - math.expm1(-h_eta) * denoised
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None and d_1 is not None and d_2 is not None and h_1 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - d_1) / r0
                d1_1 = (d_1 - d_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * (r0 / (r0 + r1))
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
            elif h_1 is not None and d_1 is not None:
                x = x + phi_2 * ((denoised - d_1) / (h_1 / h))
            if eta:
                x = x + noise_sampler(s[i], s[i + 1]) * (s[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)))
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
        report(callback, i, len(s) - 1, x, denoised, s[i + 1])
    return x


# --- DPM-Solver (v1, noise prediction) with fixed or adaptive step sizes ---------------


class _EpsModel:
    """eps(x, lambda) from the denoiser, counting evaluations."""

    def __init__(self, denoiser: Denoise) -> None:
        self.denoiser, self.nfe = denoiser, 0

    def __call__(self, x: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = math.exp(-lam)
        self.nfe += 1
        denoised = self.denoiser(x, sigma)
        return to_d(x, sigma, denoised), denoised


def _sig(lam: float) -> float:
    return math.exp(-lam)


def _dpm_solver_step(
    eps_fn: _EpsModel, x: torch.Tensor, eps: torch.Tensor, lam: float, lam_next: float, order: int,
    cache: dict[float, torch.Tensor], r1: float = 0.5,
) -> torch.Tensor:
    """One DPM-Solver-{1,2,3} step from lam to lam_next (order 3 uses r1=1/3, r2=2/3).

    ``cache`` keeps eps at the first intermediate point so that the 2nd and 3rd order
    estimates of one adaptive step share that evaluation.
    """
    h = lam_next - lam
    first = x - _sig(lam_next) * math.expm1(h) * eps
    if order == 1:
        return first
    if order == 3:
        r1 = 1 / 3
    s1 = lam + r1 * h
    if r1 not in cache:
        cache[r1] = eps_fn(x - _sig(s1) * math.expm1(r1 * h) * eps, s1)[0]
    eps_r1 = cache[r1]
    if order == 2:
        return first - _sig(lam_next) / (2 * r1) * math.expm1(h) * (eps_r1 - eps)
    r2 = 2 / 3
    s2 = lam + r2 * h
    u2 = (
        x - _sig(s2) * math.expm1(r2 * h) * eps
        - _sig(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps)
    )
    eps_r2 = eps_fn(u2, s2)[0]
    return first - _sig(lam_next) / r2 * (math.expm1(h) / h - 1) * (eps_r2 - eps)


def _sigma_range(sigmas: torch.Tensor) -> tuple[float, float]:
    """ComfyUI runs dpm_fast/adaptive from sigmas[0] to the smallest non-zero sigma."""
    s = floats(sigmas)
    low = s[-1] if s[-1] > 0 else s[-2]
    return s[0], low


def sample_dpm_fast(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
) -> torch.Tensor:
    """DPM-Solver-fast: len(sigmas)-1 evaluations spent on uniform lambda steps of order 3,
    ending at the smallest non-zero sigma (the schedule's shape is ignored)."""
    nfe = len(sigmas) - 1
    if nfe < 1:
        return x
    sigma_max, sigma_min = _sigma_range(sigmas)
    m = nfe // 3 + 1
    lams = torch.linspace(-math.log(sigma_max), -math.log(sigma_min), m + 1, dtype=torch.float64).tolist()
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    eps_fn = _EpsModel(denoiser)
    for i, order in enumerate(orders):
        eps, denoised = eps_fn(x, lams[i])
        x = _dpm_solver_step(eps_fn, x, eps, lams[i], lams[i + 1], order, {})
        report(callback, i, len(orders), x, denoised, _sig(lams[i + 1]))
    return x


def sample_dpm_adaptive(
    denoiser: Denoise, x: torch.Tensor, sigmas: torch.Tensor, *,
    noise_sampler: Optional[NoiseSampler] = None, callback: Optional[StepCallback] = None,
    order: int = 3, rtol: float = 0.05, atol: float = 0.0078, h_init: float = 0.05, pcoeff: float = 0.0,
    icoeff: float = 1.0, dcoeff: float = 0.0, accept_safety: float = 0.81, eta: float = 0.0,
    max_evals: int = 10_000,
) -> torch.Tensor:
    """DPM-Solver-12/23 with step-size control (embedded lower-order error estimate and a
    PID controller on the inverse error, softened by atan; the defaults are integral-only).

    Like ComfyUI it only uses sigmas[0] and the smallest non-zero sigma; the number of
    steps follows from the tolerances. With eta > 0 each accepted step ends with ancestral
    noise. Step total in callbacks is the schedule's length (or more, once exceeded).
    """
    if len(sigmas) < 2:
        return x
    if order not in (2, 3):
        raise ValueError(f"dpm_adaptive order must be 2 or 3, got {order}")
    sigma_max, sigma_min = _sigma_range(sigmas)
    lam, lam_end = -math.log(sigma_max), -math.log(sigma_min)
    eps_fn = _EpsModel(denoiser)
    h = h_init
    b1, b2, b3 = (pcoeff + icoeff + dcoeff) / order, -(pcoeff + 2 * dcoeff) / order, dcoeff / order
    inv_errors: list[float] = []
    x_prev = x
    step, nominal = 0, len(sigmas) - 1
    while lam < lam_end - 1e-5 and eps_fn.nfe < max_evals:
        lam_next = min(lam_end, lam + h)
        up, lam_down = 0.0, lam_next
        if eta:
            down, up = ancestral_step(_sig(lam), _sig(lam_next), eta)
            lam_down = -math.log(down) if down > 0 else lam_next
        eps, denoised = eps_fn(x, lam)
        cache: dict[float, torch.Tensor] = {}
        if order == 2:
            x_low = _dpm_solver_step(eps_fn, x, eps, lam, lam_down, 1, cache)
            x_high = _dpm_solver_step(eps_fn, x, eps, lam, lam_down, 2, cache)
        else:
            x_low = _dpm_solver_step(eps_fn, x, eps, lam, lam_down, 2, cache, r1=1 / 3)
            x_high = _dpm_solver_step(eps_fn, x, eps, lam, lam_down, 3, cache)
        delta = torch.maximum(torch.full_like(x_low, atol), rtol * torch.maximum(x_low.abs(), x_prev.abs()))
        error = float(torch.linalg.vector_norm((x_low - x_high) / delta)) / math.sqrt(x.numel())
        inverse = 1 / (error + 1e-8)
        if not inv_errors:
            inv_errors = [inverse, inverse, inverse]
        inv_errors[0] = inverse
        factor = 1 + math.atan(inv_errors[0] ** b1 * inv_errors[1] ** b2 * inv_errors[2] ** b3 - 1)
        if factor >= accept_safety:
            inv_errors[2], inv_errors[1] = inv_errors[1], inv_errors[0]
            if up and noise_sampler is not None:
                x_high = x_high + noise_sampler(_sig(lam), _sig(lam_next)) * up
            x_prev, x, lam = x_low, x_high, lam_next
            report(callback, step, max(nominal, step + 1), x, denoised, _sig(lam))
            step += 1
        h *= factor
    return x
