"""What every sampler shares: the call signature, seeded noise sources, small helpers.

A sampler is a pure function ``(denoiser, x, sigmas, *, noise_sampler, callback) -> x``
where ``denoiser(x, sigma)`` returns the model's estimate of the clean latent and
``sigmas`` is the decreasing schedule (last entry usually 0). Coefficients are computed
in Python floats (float64) so that the tensor work stays in the latent's dtype/device.
"""
from __future__ import annotations

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
    # "none", "gaussian" (fresh draws), "continued" (fresh draws continuing the starting
    # noise's stream), "brownian" (SDE, consistent increments; tree on the CPU) or
    # "brownian_device" (the same, its tree on the latent's device)
    noise: str = "none"
    discard_penultimate_sigma: bool = False  # ComfyUI schedules one step more and drops sigma[-2]
    inpaint_noise_offset: int | None = None  # ddim: re-noise the kept region with seed+1 noise
    needs_uncond: bool = False  # CFG++: the function takes `uncond`, the latest unconditional prediction
    needs_seed: bool = False  # the function takes `seed` and draws its own noise (a pack's sampler)


SEED_SPAN = 2**64  # seeds wrap modulo 2^64 (a generator takes 0 .. 2^64 - 1)


class GaussianNoiseSampler:
    """Independent N(0, 1) draws per step, seeded as ComfyUI seeds them, so that a seed
    gives ComfyUI's image: a generator on the latent's device, seeded with the seed, plus
    one on the CPU (the starting noise is drawn there from the seed itself)."""

    def __init__(self, like: torch.Tensor, seed: int) -> None:
        self.shape = tuple(like.shape)
        self.device, self.dtype = like.device, like.dtype
        self.generator = torch.Generator(device=like.device)
        self._start(int(seed), on_cpu=like.device.type == "cpu")

    def _start(self, seed: int, on_cpu: bool) -> None:
        self.generator.manual_seed((seed + 1 if on_cpu else seed) % SEED_SPAN)

    def __call__(self, sigma: float = 0.0, sigma_next: float = 0.0) -> torch.Tensor:
        return torch.randn(self.shape, generator=self.generator, dtype=self.dtype, device=self.device)


class ContinuedNoiseSampler(GaussianNoiseSampler):
    """Draws that go on from torch's global generator where ComfyUI's starting noise left
    it: what its samplers that call torch.randn_like get (SamplerLCMUpscale). On the CPU
    that stream is seeded with the seed and has already given the starting noise (one
    draw of the latent's shape); on a GPU the device's own stream starts at the seed."""

    def _start(self, seed: int, on_cpu: bool) -> None:
        self.generator.manual_seed(seed % SEED_SPAN)
        if on_cpu:
            torch.randn(self.shape, generator=self.generator, dtype=torch.float32)


class BrownianNoiseSampler:
    """Normalised increments of one Brownian motion W(sigma), for SDE samplers.

    SDE steps ask for noise over overlapping intervals (sigma -> mid, then sigma -> next);
    one path keeps them consistently correlated. The path is torchsde's Brownian tree over
    [sigma_min, sigma_max] with the seed as its entropy, queried in float32, as ComfyUI's
    SDE samplers build it: on the CPU (`cpu=True`, their default) or on the latent's device
    (the ``*_gpu`` samplers).
    """

    def __init__(self, like: torch.Tensor, sigma_min: float, sigma_max: float, seed: int, *,
                 cpu: bool = True) -> None:
        import torchsde  # imported here: only SDE samplers need it

        self.device, self.dtype = like.device, like.dtype
        self.shape = tuple(like.shape)
        self._tree_device = torch.device("cpu") if cpu else like.device
        low, high = sorted((float(sigma_min), float(sigma_max)))
        if low == high:
            high = low + 1e-6 * max(abs(low), 1.0)
        w0 = torch.zeros(self.shape, dtype=like.dtype, device=self._tree_device)
        self._tree = torchsde.BrownianTree(self._time(low), w0, self._time(high), entropy=int(seed) % SEED_SPAN)
        # The tree resolves times to 1e-6 (torchsde's default tolerance) and clamps queries
        # to its span; clamping to the same rounded span first keeps its warnings quiet.
        self._low, self._high = round(low, 6), round(high, 6)

    @classmethod
    def for_sigmas(cls, like: torch.Tensor, sigmas: torch.Tensor, seed: int, *, cpu: bool = True
                   ) -> "BrownianNoiseSampler":
        """The tree over a schedule's span: its smallest positive sigma to its largest."""
        values = sigmas.detach().to("cpu", torch.float32).reshape(-1)
        positive = values[values > 0]
        low = float(positive.min()) if len(positive) else float(values.max())
        return cls(like, low, float(values.max()), seed, cpu=cpu)

    def _time(self, value: float) -> torch.Tensor:
        return torch.tensor(float(value), dtype=torch.float32, device=self._tree_device)

    def __call__(self, sigma: float, sigma_next: float) -> torch.Tensor:
        t0, t1 = self._time(sigma), self._time(sigma_next)
        if t0 == t1:
            return torch.zeros(self.shape, device=self.device, dtype=self.dtype)
        low, high, sign = (t0, t1, 1.0) if t0 < t1 else (t1, t0, -1.0)
        low = min(max(float(low), self._low), self._high)
        high = min(max(float(high), self._low), self._high)
        w = self._tree(low, high) * sign
        return (w / (t1 - t0).abs().sqrt()).to(self.device, self.dtype)


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
