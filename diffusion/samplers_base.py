"""What every sampler shares: the call signature, seeded noise sources, small helpers.

A sampler is a pure function ``(denoiser, x, sigmas, *, noise_sampler, callback) -> x``
where ``denoiser(x, sigma)`` returns the model's estimate of the clean latent and
``sigmas`` is the decreasing schedule (last entry usually 0). Coefficients are computed
in Python floats (float64) so that the tensor work stays in the latent's dtype/device.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch

from diffusion.types import StepCallback, StepInfo

Denoise = Callable[[torch.Tensor, float], torch.Tensor]


class NoiseSampler(Protocol):
    """Unit Gaussian noise shaped like the latent for the interval sigma -> sigma_next."""

    def __call__(self, sigma: float, sigma_next: float) -> torch.Tensor: ...


SamplerFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class SamplerSpec:
    """A registry entry: the function plus what the caller must prepare for it."""

    fn: SamplerFn
    noise: str = "none"  # "none", "gaussian" (fresh draws) or "brownian" (SDE, consistent increments)
    discard_penultimate_sigma: bool = False  # ComfyUI schedules one step more and drops sigma[-2]
    inpaint_noise_offset: int | None = None  # ddim: re-noise the kept region with seed+1 noise
    needs_uncond: bool = False  # CFG++: the function takes `uncond`, the latest unconditional prediction


class GaussianNoiseSampler:
    """Independent N(0, 1) draws from a CPU generator seeded once: same on every device."""

    def __init__(self, like: torch.Tensor, seed: int) -> None:
        self.shape = tuple(like.shape)
        self.device, self.dtype = like.device, like.dtype
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))

    def __call__(self, sigma: float = 0.0, sigma_next: float = 0.0) -> torch.Tensor:
        z = torch.randn(self.shape, generator=self.generator, dtype=torch.float32, device="cpu")
        return z.to(self.device, self.dtype)


class BrownianNoiseSampler:
    """Increments of one Brownian motion W(sigma), for SDE samplers.

    SDE steps ask for noise over overlapping intervals (sigma -> mid, then sigma -> next);
    a single path keeps them consistently correlated. Values at new times are filled in
    by Brownian-bridge sampling between known times from a seeded CPU generator, which is
    deterministic for a seed and the order of queries (a cheap stand-in for torchsde's
    Brownian tree).
    """

    def __init__(self, like: torch.Tensor, seed: int) -> None:
        self._gauss = GaussianNoiseSampler(like, seed)
        self._times: list[float] = []
        self._values: list[torch.Tensor] = []

    def _w(self, t: float) -> torch.Tensor:
        times = self._times
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            return self._values[i]
        z = self._gauss()
        if not times:
            w = torch.zeros_like(z)
        elif i == 0:
            w = self._values[0] + z * math.sqrt(times[0] - t)
        elif i == len(times):
            w = self._values[-1] + z * math.sqrt(t - times[-1])
        else:
            t0, t1 = times[i - 1], times[i]
            w0, w1 = self._values[i - 1], self._values[i]
            frac = (t - t0) / (t1 - t0)
            w = w0 + frac * (w1 - w0) + z * math.sqrt((t - t0) * (t1 - t) / (t1 - t0))
        times.insert(i, t)
        self._values.insert(i, w)
        return w

    def __call__(self, sigma: float, sigma_next: float) -> torch.Tensor:
        t0, t1 = float(sigma), float(sigma_next)
        if t0 == t1:
            return torch.zeros(self._gauss.shape, device=self._gauss.device, dtype=self._gauss.dtype)
        return (self._w(t1) - self._w(t0)) / math.sqrt(abs(t1 - t0))


def to_d(x: torch.Tensor, sigma: float, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE derivative dx/dsigma = (x - D(x)) / sigma."""
    return (x - denoised) / sigma


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """Split sigma -> sigma_next into a deterministic step to sigma_down plus fresh noise sigma_up."""
    if not eta or sigma_next == 0:
        return sigma_next, 0.0
    up = min(sigma_next, eta * math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0)))
    down = math.sqrt(max(sigma_next**2 - up**2, 0.0))
    return down, up


def floats(sigmas: torch.Tensor) -> list[float]:
    """Sigmas as Python floats for coefficient arithmetic."""
    return [float(s) for s in sigmas.detach().cpu().reshape(-1)]


def report(
    callback: Optional[StepCallback], i: int, total: int, x: torch.Tensor, denoised: torch.Tensor, sigma: float
) -> None:
    """Tell the caller that step i finished; x is now at noise level sigma."""
    if callback is not None:
        callback(StepInfo(step=i, total=total, x=x, denoised=denoised, sigma=float(sigma)))
