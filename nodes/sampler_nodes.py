"""SAMPLER nodes of custom sampling graphs: an algorithm and its settings, as in ComfyUI.

`noise_device` picks where an SDE sampler grows its Brownian tree, as in ComfyUI: "cpu"
gives the same image on every machine, "gpu" the tree on the model's device (the two are
the same on a CPU-only machine).
"""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .sampling import _sampler_names
from .spec import Boolean, Combo, Float, Int, Output, Socket

SAMPLERS = "sampling/custom_sampling/samplers"
SAMPLER_OUT = (Output("SAMPLER", "SAMPLER"),)
NOISE_DEVICE_TIP = "Where the Brownian noise is drawn: cpu gives the same image on every machine."


def _choice(name: str, **options: Any) -> tuple:
    from diffusion.custom_sampling import choose_sampler

    return (choose_sampler(name, **options),)


def _eta(default: float = 1.0, maximum: float = 100.0) -> Float:
    return Float(default=default, min=0.0, max=maximum, step=0.01, round=False)


def _s_noise(maximum: float = 100.0) -> Float:
    return Float(default=1.0, min=0.0, max=maximum, step=0.01, round=False)


def _noise_device() -> Combo:
    return Combo(choices=["gpu", "cpu"], tooltip=NOISE_DEVICE_TIP)


def _on_device(name: str, noise_device: str) -> str:
    """ComfyUI's sampler name for an SDE sampler's noise device."""
    return name if noise_device == "cpu" else f"{name}_gpu"


def _power_scaler(power: float):
    """The reverse-time SDE's noise scaler lambda**(eta + 1)."""
    def scale(value):
        return value ** power

    return scale


@register_node("KSamplerSelect", category=SAMPLERS)
class KSamplerSelect(Node):
    """One of KSampler's samplers by name."""

    sampler_name = Combo(choices=_sampler_names)
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, sampler_name: str) -> tuple:
        return _choice(sampler_name)


@register_node("SamplerEulerAncestral", category=SAMPLERS)
class SamplerEulerAncestral(Node):
    """Euler ancestral with its noise amount (eta) and noise scale."""

    eta = _eta()
    s_noise = _s_noise()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, eta: float, s_noise: float) -> tuple:
        return _choice("euler_ancestral", eta=eta, s_noise=s_noise)


@register_node("SamplerEulerAncestralCFGPP", category=SAMPLERS, display_name="SamplerEulerAncestralCFG++")
class SamplerEulerAncestralCFGPP(Node):
    """Euler ancestral stepping along the unconditional prediction (CFG++); use low cfg."""

    eta = _eta(1.0, 1.0)
    s_noise = _s_noise(10.0)
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, eta: float, s_noise: float) -> tuple:
        return _choice("euler_ancestral_cfg_pp", eta=eta, s_noise=s_noise)


@register_node("SamplerEulerCFGpp", category="_for_testing", display_name="SamplerEulerCFG++")
class SamplerEulerCFGpp(Node):
    """Euler CFG++; "alternative" is the other published form of its step."""

    version = Combo(choices=["regular", "alternative"])
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, version: str) -> tuple:
        return _choice("euler_cfg_pp_alternative" if version == "alternative" else "euler_cfg_pp")


@register_node("SamplerLMS", category=SAMPLERS)
class SamplerLMS(Node):
    """Linear multistep of the given order."""

    order = Int(default=4, min=1, max=100)
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, order: int) -> tuple:
        return _choice("lms", order=order)


@register_node("SamplerDPMPP_3M_SDE", category=SAMPLERS)
class SamplerDPMPP_3M_SDE(Node):
    """DPM-Solver++(3M) SDE."""

    eta = _eta()
    s_noise = _s_noise()
    noise_device = _noise_device()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, eta: float, s_noise: float, noise_device: str) -> tuple:
        return _choice(_on_device("dpmpp_3m_sde", noise_device), eta=eta, s_noise=s_noise)


@register_node("SamplerDPMPP_2M_SDE", category=SAMPLERS)
class SamplerDPMPP_2M_SDE(Node):
    """DPM-Solver++(2M) SDE with the midpoint or Heun correction."""

    solver_type = Combo(choices=["midpoint", "heun"])
    eta = _eta()
    s_noise = _s_noise()
    noise_device = _noise_device()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, solver_type: str, eta: float, s_noise: float, noise_device: str) -> tuple:
        return _choice(_on_device("dpmpp_2m_sde", noise_device), solver_type=solver_type, eta=eta, s_noise=s_noise)


@register_node("SamplerDPMPP_SDE", category=SAMPLERS)
class SamplerDPMPP_SDE(Node):
    """DPM-Solver++ SDE, its midpoint at ratio r."""

    eta = _eta()
    s_noise = _s_noise()
    r = Float(default=0.5, min=0.0, max=100.0, step=0.01, round=False)
    noise_device = _noise_device()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, eta: float, s_noise: float, r: float, noise_device: str) -> tuple:
        return _choice(_on_device("dpmpp_sde", noise_device), eta=eta, s_noise=s_noise, r=r)


@register_node("SamplerDPMPP_2S_Ancestral", category=SAMPLERS)
class SamplerDPMPP_2S_Ancestral(Node):
    """DPM-Solver++(2S) ancestral."""

    eta = _eta()
    s_noise = _s_noise()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, eta: float, s_noise: float) -> tuple:
        return _choice("dpmpp_2s_ancestral", eta=eta, s_noise=s_noise)


@register_node("SamplerDPMAdaptative", category=SAMPLERS)
class SamplerDPMAdaptative(Node):
    """DPM-Solver with adaptive step size: the tolerances decide how many steps it takes."""

    order = Int(default=3, min=2, max=3)
    rtol = Float(default=0.05, min=0.0, max=100.0, step=0.01, round=False)
    atol = Float(default=0.0078, min=0.0, max=100.0, step=0.01, round=False)
    h_init = Float(default=0.05, min=0.0, max=100.0, step=0.01, round=False)
    pcoeff = Float(default=0.0, min=0.0, max=100.0, step=0.01, round=False)
    icoeff = Float(default=1.0, min=0.0, max=100.0, step=0.01, round=False)
    dcoeff = Float(default=0.0, min=0.0, max=100.0, step=0.01, round=False)
    accept_safety = Float(default=0.81, min=0.0, max=100.0, step=0.01, round=False)
    eta = _eta(0.0)
    s_noise = _s_noise()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, order: int, rtol: float, atol: float, h_init: float, pcoeff: float, icoeff: float,
                dcoeff: float, accept_safety: float, eta: float, s_noise: float) -> tuple:
        return _choice("dpm_adaptive", order=order, rtol=rtol, atol=atol, h_init=h_init, pcoeff=pcoeff,
                       icoeff=icoeff, dcoeff=dcoeff, accept_safety=accept_safety, eta=eta, s_noise=s_noise)


@register_node("SamplerLCMUpscale", category=SAMPLERS)
class SamplerLCMUpscale(Node):
    """LCM that enlarges the latent over its first steps (scale_steps -1: half of them)."""

    scale_ratio = Float(default=1.0, min=0.1, max=20.0, step=0.01)
    scale_steps = Int(default=-1, min=-1, max=1000, step=1)
    upscale_method = Combo(choices=["bislerp", "nearest-exact", "bilinear", "area", "bicubic"])
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, scale_ratio: float, scale_steps: int, upscale_method: str) -> tuple:
        return _choice("lcm_upscale", total_upscale=scale_ratio, upscale_method=upscale_method,
                       upscale_steps=None if scale_steps < 0 else scale_steps)


@register_node("SamplerER_SDE", category=SAMPLERS)
class SamplerER_SDE(Node):
    """Extended reverse-time SDE solver; "ODE" (or eta 0) is deterministic."""

    solver_type = Combo(choices=["ER-SDE", "Reverse-time SDE", "ODE"])
    max_stage = Int(default=3, min=1, max=3)
    eta = Float(default=1.0, min=0.0, max=100.0, step=0.01, round=False, tooltip=(
        "Stochastic strength of reverse-time SDE.\n"
        "When eta=0, it reduces to deterministic ODE. This setting doesn't apply to ER-SDE solver type."))
    s_noise = _s_noise()
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, solver_type: str, max_stage: int, eta: float, s_noise: float) -> tuple:
        if solver_type == "ODE" or (solver_type == "Reverse-time SDE" and eta == 0):
            eta, s_noise = 0.0, 0.0
        scaler = None if solver_type == "ER-SDE" else _power_scaler(eta + 1.0)
        return _choice("er_sde", s_noise=s_noise, noise_scaler=scaler, max_stage=max_stage)


@register_node("SamplerSASolver", category=SAMPLERS)
class SamplerSASolver(Node):
    """Stochastic Adams solver (Xue et al. 2023): multistep predictor and corrector, with
    SDE noise between two sampling percents."""

    model = Socket("MODEL")
    eta = Float(default=1.0, min=0.0, max=10.0, step=0.01, round=False)
    sde_start_percent = Float(default=0.2, min=0.0, max=1.0, step=0.001)
    sde_end_percent = Float(default=0.8, min=0.0, max=1.0, step=0.001)
    s_noise = _s_noise()
    predictor_order = Int(default=3, min=1, max=6)
    corrector_order = Int(default=4, min=0, max=6)
    use_pece = Boolean(default=False)
    simple_order_2 = Boolean(default=False)
    OUTPUTS = SAMPLER_OUT

    def execute(self, ctx, model, eta: float, sde_start_percent: float, sde_end_percent: float, s_noise: float,
                predictor_order: int, corrector_order: int, use_pece: bool, simple_order_2: bool) -> tuple:
        from diffusion.denoiser import sampling_of

        sampling = sampling_of(model)
        start = sampling.percent_to_sigma(sde_start_percent)
        end = sampling.percent_to_sigma(sde_end_percent)
        return _choice("sa_solver_pece" if use_pece else "sa_solver", tau_start=start, tau_end=end, eta=eta,
                       s_noise=s_noise, predictor_order=predictor_order, corrector_order=corrector_order,
                       simple_order_2=simple_order_2)
