"""Scheduler and SIGMAS nodes of custom sampling graphs, as in ComfyUI."""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .sampling import _scheduler_names
from .spec import Boolean, Combo, Float, Int, Output, Socket, String

SCHEDULERS = "sampling/custom_sampling/schedulers"
SIGMAS = "sampling/custom_sampling/sigmas"
SIGMAS_OUT = (Output("SIGMAS", "SIGMAS"),)
SIGMA_MAX, SIGMA_MIN = 14.614642, 0.0291675  # SD's discrete schedule ends


def _sigma(default: float, maximum: float = 5000.0, step: float = 0.01) -> Float:
    return Float(default=default, min=0.0, max=maximum, step=step, round=False)


def _steps(default: int = 20, minimum: int = 1, maximum: int = 10000) -> Int:
    return Int(default=default, min=minimum, max=maximum)


def _denoise() -> Float:
    return Float(default=1.0, min=0.0, max=1.0, step=0.01)


def _sampling(model: Any):
    from diffusion.denoiser import sampling_of

    return sampling_of(model)


@register_node("BasicScheduler", category=SCHEDULERS)
class BasicScheduler(Node):
    """KSampler's schedules as SIGMAS; denoise below 1 keeps the tail of a longer schedule."""

    model = Socket("MODEL")
    scheduler = Combo(choices=_scheduler_names)
    steps = _steps()
    denoise = _denoise()
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, model, scheduler: str, steps: int, denoise: float) -> tuple:
        import torch

        from diffusion.schedules import compute_sigmas

        total = steps
        if denoise < 1.0:
            if denoise <= 0.0:
                return (torch.zeros(0),)
            total = int(steps / denoise)
        sigmas = compute_sigmas(_sampling(model).sigmas, scheduler, total)
        return (sigmas[-(steps + 1):],)


@register_node("KarrasScheduler", category=SCHEDULERS)
class KarrasScheduler(Node):
    """Evenly spaced in sigma**(1/rho) (Karras et al. 2022)."""

    steps = _steps()
    sigma_max = _sigma(SIGMA_MAX)
    sigma_min = _sigma(SIGMA_MIN)
    rho = Float(default=7.0, min=0.0, max=100.0, step=0.01, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple:
        from diffusion.sigma_schedules import karras

        return (karras(steps, sigma_min, sigma_max, rho),)


@register_node("ExponentialScheduler", category=SCHEDULERS)
class ExponentialScheduler(Node):
    """Evenly spaced in log-sigma."""

    steps = _steps()
    sigma_max = _sigma(SIGMA_MAX)
    sigma_min = _sigma(SIGMA_MIN)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, steps: int, sigma_max: float, sigma_min: float) -> tuple:
        from diffusion.sigma_schedules import exponential

        return (exponential(steps, sigma_min, sigma_max),)


@register_node("PolyexponentialScheduler", category=SCHEDULERS)
class PolyexponentialScheduler(Node):
    """Log-sigma along a power ramp: rho above 1 spends more steps at low noise."""

    steps = _steps()
    sigma_max = _sigma(SIGMA_MAX)
    sigma_min = _sigma(SIGMA_MIN)
    rho = Float(default=1.0, min=0.0, max=100.0, step=0.01, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple:
        from diffusion.sigma_schedules import polyexponential

        return (polyexponential(steps, sigma_min, sigma_max, rho),)


@register_node("LaplaceScheduler", category=SCHEDULERS)
class LaplaceScheduler(Node):
    """More steps around sigma = e**mu, spread by beta."""

    steps = _steps()
    sigma_max = _sigma(SIGMA_MAX)
    sigma_min = _sigma(SIGMA_MIN)
    mu = Float(default=0.0, min=-10.0, max=10.0, step=0.1, round=False)
    beta = Float(default=0.5, min=0.0, max=10.0, step=0.1, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, steps: int, sigma_max: float, sigma_min: float, mu: float, beta: float) -> tuple:
        from diffusion.sigma_schedules import laplace

        return (laplace(steps, sigma_min, sigma_max, mu, beta),)


@register_node("SDTurboScheduler", category=SCHEDULERS)
class SDTurboScheduler(Node):
    """SD-Turbo / SDXL-Turbo's one-to-ten step schedule."""

    model = Socket("MODEL")
    steps = _steps(1, 1, 10)
    denoise = Float(default=1.0, min=0, max=1.0, step=0.01, added_later=True)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, model, steps: int, denoise: float) -> tuple:
        from diffusion.sigma_schedules import sd_turbo

        return (sd_turbo(_sampling(model), steps, denoise),)


@register_node("BetaSamplingScheduler", category=SCHEDULERS)
class BetaSamplingScheduler(Node):
    """Timesteps at quantiles of Beta(alpha, beta): more steps at both ends."""

    model = Socket("MODEL")
    steps = _steps()
    alpha = Float(default=0.6, min=0.0, max=50.0, step=0.01, round=False)
    beta = Float(default=0.6, min=0.0, max=50.0, step=0.01, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, model, steps: int, alpha: float, beta: float) -> tuple:
        from diffusion.schedules import beta_sigmas

        return (beta_sigmas(_sampling(model).sigmas, steps, alpha, beta),)


@register_node("VPScheduler", category=SCHEDULERS)
class VPScheduler(Node):
    """The variance-preserving SDE's schedule."""

    steps = _steps()
    beta_d = _sigma(19.9)
    beta_min = _sigma(0.1)
    eps_s = Float(default=0.001, min=0.0, max=1.0, step=0.0001, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, steps: int, beta_d: float, beta_min: float, eps_s: float) -> tuple:
        from diffusion.sigma_schedules import variance_preserving

        return (variance_preserving(steps, beta_d, beta_min, eps_s),)


@register_node("AlignYourStepsScheduler", category=SCHEDULERS)
class AlignYourStepsScheduler(Node):
    """NVIDIA's optimised noise levels for SD1, SDXL and SVD."""

    model_type = Combo(choices=["SD1", "SDXL", "SVD"])
    steps = _steps(10)
    denoise = _denoise()
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, model_type: str, steps: int, denoise: float) -> tuple:
        from diffusion.sigma_schedules import align_your_steps

        return (align_your_steps(model_type, steps, denoise),)


@register_node("GITSScheduler", category=SCHEDULERS)
class GITSScheduler(Node):
    """Geometry-inspired time scheduling: schedules searched per step count."""

    coeff = Float(default=1.20, min=0.80, max=1.50, step=0.05)
    steps = _steps(10, 2, 1000)
    denoise = _denoise()
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, coeff: float, steps: int, denoise: float) -> tuple:
        from diffusion.sigma_schedules import gits

        return (gits(coeff, steps, denoise),)


@register_node("OptimalStepsScheduler", category=SCHEDULERS)
class OptimalStepsScheduler(Node):
    """Optimal Steps noise levels (flow models: FLUX, Wan, Chroma)."""

    model_type = Combo(choices=["FLUX", "Wan", "Chroma"])
    steps = _steps(20, 3, 1000)
    denoise = _denoise()
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, model_type: str, steps: int, denoise: float) -> tuple:
        from diffusion.sigma_schedules import optimal_steps

        return (optimal_steps(model_type, steps, denoise),)


@register_node("ManualSigmas", category="_for_testing/custom_sampling")
class ManualSigmas(Node):
    """Sigmas typed by hand, separated by commas."""

    sigmas = String(default="1, 0.5")
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, sigmas: str) -> tuple:
        from diffusion.sigma_schedules import manual

        return (manual(sigmas),)


@register_node("SplitSigmas", category=SIGMAS)
class SplitSigmas(Node):
    """Two schedules that meet at `step`: sample the high one, then the low one."""

    sigmas = Socket("SIGMAS")
    step = Int(default=0, min=0, max=10000)
    OUTPUTS = (Output("SIGMAS", "high_sigmas"), Output("SIGMAS", "low_sigmas"))

    def execute(self, ctx, sigmas, step: int) -> tuple:
        from diffusion.sigma_schedules import split_at

        return split_at(sigmas, step)


@register_node("SplitSigmasDenoise", category=SIGMAS)
class SplitSigmasDenoise(Node):
    """Split where a denoise of this strength would start."""

    sigmas = Socket("SIGMAS")
    denoise = _denoise()
    OUTPUTS = (Output("SIGMAS", "high_sigmas"), Output("SIGMAS", "low_sigmas"))

    def execute(self, ctx, sigmas, denoise: float) -> tuple:
        from diffusion.sigma_schedules import split_denoise

        return split_denoise(sigmas, denoise)


@register_node("FlipSigmas", category=SIGMAS)
class FlipSigmas(Node):
    """Reverse a schedule (to add noise back step by step: unsampling)."""

    sigmas = Socket("SIGMAS")
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, sigmas) -> tuple:
        from diffusion.sigma_schedules import flip

        return (flip(sigmas),)


@register_node("SetFirstSigma", category=SIGMAS)
class SetFirstSigma(Node):
    """Replace the starting sigma."""

    sigmas = Socket("SIGMAS")
    sigma = Float(default=136.0, min=0.0, max=20000.0, step=0.001, round=False)
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, sigmas, sigma: float) -> tuple:
        from diffusion.sigma_schedules import set_first

        return (set_first(sigmas, sigma),)


@register_node("ExtendIntermediateSigmas", category=SIGMAS)
class ExtendIntermediateSigmas(Node):
    """More steps in a range of sigmas: each step there is split into `steps`."""

    sigmas = Socket("SIGMAS")
    steps = Int(default=2, min=1, max=100)
    start_at_sigma = Float(default=-1.0, min=-1.0, max=20000.0, step=0.01, round=False)
    end_at_sigma = Float(default=12.0, min=0.0, max=20000.0, step=0.01, round=False)
    spacing = Combo(choices=["linear", "cosine", "sine"])
    OUTPUTS = SIGMAS_OUT

    def execute(self, ctx, sigmas, steps: int, start_at_sigma: float, end_at_sigma: float, spacing: str) -> tuple:
        from diffusion.sigma_schedules import extend_intermediate

        return (extend_intermediate(sigmas, steps, start_at_sigma, end_at_sigma, spacing),)


@register_node("SamplingPercentToSigma", category=SIGMAS)
class SamplingPercentToSigma(Node):
    """The model's sigma at a fraction of the sampling (0 = start, 1 = end)."""

    model = Socket("MODEL")
    sampling_percent = Float(default=0.0, min=0.0, max=1.0, step=0.0001)
    return_actual_sigma = Boolean(default=False, tooltip=(
        "Return the actual sigma value instead of the value used for interval checks.\n"
        "This only affects results at 0.0 and 1.0."))
    OUTPUTS = (Output("FLOAT", "sigma_value"),)

    def execute(self, ctx, model, sampling_percent: float, return_actual_sigma: bool) -> tuple:
        from diffusion.sigma_schedules import percent_to_sigma

        return (percent_to_sigma(_sampling(model), sampling_percent, return_actual_sigma),)
