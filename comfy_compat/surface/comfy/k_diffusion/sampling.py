"""ComfyUI's `comfy.k_diffusion.sampling`: k-diffusion style samplers over this app's own.

`sample_<name>(model, x, sigmas, extra_args=None, callback=None, disable=None)` calls
`model(x, sigma * s_in, **extra_args)` for the denoised estimate and reports each step as
k-diffusion does (a dict with i, denoised, x, sigma, sigma_hat), so packs that call or
wrap these functions get the app's samplers.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from diffusion import samplers as studio
from diffusion import schedules


def _denoiser(model: Callable, extra_args: Optional[dict]) -> Callable:
    extra = dict(extra_args or {})
    extra.pop("seed", None)

    def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return model(x, torch.full((x.shape[0],), float(sigma), device=x.device, dtype=x.dtype), **extra)

    return denoise


def _callback(callback: Optional[Callable]) -> Optional[Callable]:
    if callback is None:
        return None

    def report(info: Any) -> None:
        callback({"i": info.step, "denoised": info.denoised, "x": info.x, "sigma": info.sigma,
                  "sigma_hat": info.sigma})

    return report


def default_noise_sampler(x: torch.Tensor, seed: Optional[int] = None) -> Callable:
    return studio.GaussianNoiseSampler(x, seed if seed is not None else torch.seed())


class BrownianTreeNoiseSampler:
    def __init__(self, x: torch.Tensor, sigma_min: Any = None, sigma_max: Any = None, seed: Optional[int] = None,
                 transform: Any = None, cpu: bool = False) -> None:
        self.transform = transform or (lambda value: value)
        low = float(self.transform(torch.as_tensor(sigma_min if sigma_min is not None else 0.0)))
        high = float(self.transform(torch.as_tensor(sigma_max if sigma_max is not None else 1.0)))
        self._inner = studio.BrownianNoiseSampler(x, low, high, seed if seed is not None else torch.seed(),
                                                  cpu=cpu)

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        return self._inner(float(self.transform(torch.as_tensor(sigma))),
                           float(self.transform(torch.as_tensor(sigma_next))))


def _run(name: str) -> Callable:
    spec = studio.get_sampler(name)

    def run(model: Callable, x: torch.Tensor, sigmas: torch.Tensor, extra_args: Optional[dict] = None,
            callback: Optional[Callable] = None, disable: Any = None, noise_sampler: Any = None,
            **_: Any) -> torch.Tensor:
        seed = (extra_args or {}).get("seed", 0)
        if noise_sampler is None:
            noise_sampler = studio.noise_source(spec, x, sigmas, seed)
        return spec.fn(_denoiser(model, extra_args), x, sigmas, noise_sampler=noise_sampler,
                       callback=_callback(callback))

    run.__name__ = f"sample_{name}"
    return run


for _name in studio.SAMPLER_NAMES:
    if _name != "ddim":
        globals()[f"sample_{_name}"] = _run(_name)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    return (x - denoised) / sigma.reshape(-1, *([1] * (x.ndim - 1)))


def get_ancestral_step(sigma_from: Any, sigma_to: Any, eta: float = 1.0) -> tuple[float, float]:
    return studio.ancestral_step(float(sigma_from), float(sigma_to), eta)


def append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: Any = "cpu"):
    return schedules.karras_sigmas(n, float(sigma_min), float(sigma_max), rho).to(device)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device: Any = "cpu"):
    return schedules.exponential_sigmas(n, float(sigma_min), float(sigma_max)).to(device)


def get_sigmas_polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, device: Any = "cpu"):
    ramp = torch.linspace(1, 0, n) ** rho
    sigmas = torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min))
    return append_zero(sigmas).to(device)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
