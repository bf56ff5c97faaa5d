"""How a UNet's output becomes an estimate of the clean latent, and how sigmas map to the
timesteps it was trained on: small strategy classes the model's sampling object combines.

A *prediction* (eps, v, x0, EDM, LCM's boundary condition) turns the raw output into the
denoised latent; a *schedule* (the discrete 1000-step DDPM table, optionally rescaled to
zero terminal SNR; LCM's 50-step subset; continuous EDM or V sigmas) gives the sigma table
and the timestep the UNet is fed. ComfyUI's ModelSampling* nodes pick one of each.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch

from .schedules import model_sigmas, sigma_to_t, t_to_sigma


def column(sigma: Any, like: torch.Tensor) -> torch.Tensor:
    """Sigma as [B,1,1,...] (or a scalar) broadcasting over `like`."""
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    if s.numel() == 1:
        return s.view(())
    return s.view(s.shape[:1] + (1,) * (like.ndim - 1))


# -- predictions ---------------------------------------------------------------------

class EpsPrediction:
    """The UNet predicts the noise: x0 = x - sigma * eps."""

    name = "eps"

    def __init__(self, sigma_data: float = 1.0) -> None:
        self.sigma_data = float(sigma_data)

    def calculate_input(self, sigma: Any, x: torch.Tensor) -> torch.Tensor:
        s = column(sigma, x)
        return x / torch.sqrt(s * s + self.sigma_data ** 2)

    def calculate_denoised(self, sigma: Any, out: torch.Tensor, x: torch.Tensor,
                           schedule: Optional["Schedule"] = None) -> torch.Tensor:
        return x - out * column(sigma, out)


class VPrediction(EpsPrediction):
    """The UNet predicts the velocity v (Salimans & Ho), SD 2.x 768 models."""

    name = "v_prediction"

    def calculate_denoised(self, sigma: Any, out: torch.Tensor, x: torch.Tensor,
                           schedule: Optional["Schedule"] = None) -> torch.Tensor:
        s, d = column(sigma, out), self.sigma_data
        return x * d * d / (s * s + d * d) - out * s * d / torch.sqrt(s * s + d * d)


class EDMPrediction(EpsPrediction):
    """Karras et al.'s EDM preconditioning (c_skip, c_out), usually with sigma_data 0.5."""

    name = "edm"

    def calculate_denoised(self, sigma: Any, out: torch.Tensor, x: torch.Tensor,
                           schedule: Optional["Schedule"] = None) -> torch.Tensor:
        s, d = column(sigma, out), self.sigma_data
        return x * d * d / (s * s + d * d) + out * s * d / torch.sqrt(s * s + d * d)


class X0Prediction(EpsPrediction):
    """The UNet predicts the clean latent itself."""

    name = "x0"

    def calculate_denoised(self, sigma: Any, out: torch.Tensor, x: torch.Tensor,
                           schedule: Optional["Schedule"] = None) -> torch.Tensor:
        return out


class ImgToImgPrediction(X0Prediction):
    """x0 prediction fed the unscaled input (ComfyUI's img_to_img)."""

    name = "img_to_img"

    def calculate_input(self, sigma: Any, x: torch.Tensor) -> torch.Tensor:
        return x


class LCMPrediction(EpsPrediction):
    """Latent consistency models: the eps estimate mixed with the input by the consistency
    boundary condition, on timesteps scaled by 10 with sigma_data 0.5."""

    name = "lcm"

    def calculate_denoised(self, sigma: Any, out: torch.Tensor, x: torch.Tensor,
                           schedule: Optional["Schedule"] = None) -> torch.Tensor:
        s = column(sigma, out)
        x0 = x - out * s
        t = schedule.timestep(torch.as_tensor(sigma).reshape(-1).cpu()) if schedule is not None else sigma
        scaled = column(torch.as_tensor(t, dtype=torch.float32) * 10.0, out)
        d = 0.5
        c_skip = d * d / (scaled * scaled + d * d)
        c_out = scaled / torch.sqrt(scaled * scaled + d * d)
        return c_out * x0 + c_skip * x


PREDICTIONS = {cls.name: cls for cls in (EpsPrediction, VPrediction, EDMPrediction, X0Prediction,
                                         ImgToImgPrediction, LCMPrediction)}


# -- schedules -----------------------------------------------------------------------

class Schedule:
    """A sigma table (ascending) and the timestep fed to the UNet for a sigma."""

    sigmas: torch.Tensor
    discrete = False  # the UNet takes whole training timesteps

    def timestep(self, sigma: Any) -> torch.Tensor:
        raise NotImplementedError

    def sigma(self, timestep: Any) -> torch.Tensor:
        raise NotImplementedError

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the sampling (0 = the start, the largest sigma)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        log_min, log_max = math.log(float(self.sigmas[0])), math.log(float(self.sigmas[-1]))
        return math.exp(log_min + (log_max - log_min) * (1.0 - percent))


def zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Rescale a discrete schedule so its last step is (almost) pure noise (Lin et al. 2023)."""
    alphas = 1.0 / (sigmas.to(torch.float64) ** 2 + 1.0)
    root = alphas.sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    alphas = root ** 2
    alphas[-1] = 4.8973451890853435e-08  # the last step keeps a finite sigma (about 4500)
    return ((1.0 - alphas) / alphas).sqrt().to(torch.float32)


class DiscreteSchedule(Schedule):
    """The 1000 training sigmas of a DDPM schedule; timesteps interpolate log-sigma."""

    discrete = True

    def __init__(self, alphas_cumprod: torch.Tensor, zsnr: bool = False) -> None:
        sigmas = model_sigmas(alphas_cumprod)
        self.sigmas = zero_terminal_snr(sigmas) if zsnr else sigmas

    def timestep(self, sigma: Any) -> torch.Tensor:
        return sigma_to_t(sigma, self.sigmas)

    def sigma(self, timestep: Any) -> torch.Tensor:
        return t_to_sigma(timestep, self.sigmas)

    def percent_to_sigma(self, percent: float) -> float:
        from .regions import percent_to_sigma

        return percent_to_sigma(percent, self.sigmas)


class DistilledSchedule(DiscreteSchedule):
    """LCM's 50 of the 1000 training steps (every 20th from the top); the UNet is fed the
    training timestep of the nearest one."""

    original_steps = 50

    def __init__(self, alphas_cumprod: torch.Tensor, zsnr: bool = False) -> None:
        full = DiscreteSchedule(alphas_cumprod, zsnr).sigmas
        self.skip = len(full) // self.original_steps
        self.sigmas = torch.stack([full[len(full) - 1 - i * self.skip] for i in range(self.original_steps)]).flip(0)

    def timestep(self, sigma: Any) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=torch.float32).cpu()
        dists = s.reshape(-1).log()[None, :] - self.sigmas.log()[:, None]
        index = dists.abs().argmin(dim=0).view(s.shape)
        return (index * self.skip + (self.skip - 1)).to(torch.float32)

    def sigma(self, timestep: Any) -> torch.Tensor:
        t = (torch.as_tensor(timestep, dtype=torch.float32).cpu() - (self.skip - 1)) / self.skip
        return t_to_sigma(t, self.sigmas)


class ContinuousSchedule(Schedule):
    """sigma_min..sigma_max log-spaced, with a closed-form sigma -> timestep map:
    EDM's c_noise = log(sigma) / 4 or the V models' 2 atan(sigma) / pi."""

    def __init__(self, sigma_min: float, sigma_max: float, kind: str = "edm") -> None:
        if not 0.0 < sigma_min < sigma_max:
            raise ValueError(f"sigma_min ({sigma_min}) must be above 0 and below sigma_max ({sigma_max})")
        self.kind = kind
        self.sigmas = torch.linspace(math.log(sigma_min), math.log(sigma_max), 1000, dtype=torch.float64).exp() \
            .to(torch.float32)

    def timestep(self, sigma: Any) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=torch.float32)
        return 0.25 * s.log() if self.kind == "edm" else s.atan() / math.pi * 2

    def sigma(self, timestep: Any) -> torch.Tensor:
        t = torch.as_tensor(timestep, dtype=torch.float32)
        return (t / 0.25).exp() if self.kind == "edm" else (t * math.pi / 2).tan()
