"""The values of custom sampling graphs: NOISE, SAMPLER and GUIDER, and AddNoise.

A graph built of separate noise, guider, sampler and sigmas nodes runs the same code as
KSampler (diffusion/sampling.py: sample_sigmas), so the same settings give the same
latent. The values keep ComfyUI's method names (`generate_noise`, `sample`) so custom
node packs can use the ones made here and hand theirs in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from diffusion.denoiser import sampling_of
from diffusion.guiders import Guide
from diffusion.samplers import SAMPLERS, SamplerSpec, get_sampler
from diffusion.sampling import prepare_noise, sample_sigmas
from diffusion.types import StepCallback, StepInfo


class RandomNoise:
    """NOISE: the seeded starting noise, as KSampler draws it."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def generate_noise(self, latent: dict) -> torch.Tensor:
        samples = latent["samples"]
        index = latent.get("batch_index")
        if index is not None and len(index) != samples.shape[0]:
            index = None
        return prepare_noise(samples, self.seed, index)


class EmptyNoise:
    """NOISE: none (the latent is already noisy, or is to be refined as it is)."""

    seed = 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return torch.zeros(latent["samples"].shape, dtype=torch.float32)


@dataclass(frozen=True)
class SamplerChoice:
    """SAMPLER: a sampling algorithm and its options (eta, s_noise, order, ...)."""

    name: str
    spec: SamplerSpec
    options: dict = field(default_factory=dict)

    @property
    def extra_options(self) -> dict:
        return self.options


def choose_sampler(name: str, **options: Any) -> SamplerChoice:
    return SamplerChoice(name, get_sampler(name), dict(options))


def sampler_value(sampler: Any) -> tuple[SamplerSpec, dict]:
    """(spec, options) of a SAMPLER from this app or from a node pack (ComfyUI's KSAMPLER)."""
    spec = getattr(sampler, "spec", None)
    if isinstance(spec, SamplerSpec):
        return spec, dict(getattr(sampler, "options", None) or getattr(sampler, "extra_options", None) or {})
    if isinstance(sampler, str) and sampler in SAMPLERS:
        return SAMPLERS[sampler], {}
    raise TypeError(f"not a sampler: {type(sampler).__name__}")


def _steps_reporter(callback: Optional[Callable]) -> Optional[StepCallback]:
    """ComfyUI's callback(step, x0, x, total_steps) as this app's step callback."""
    if callback is None:
        return None

    def on_step(info: StepInfo) -> None:
        callback(info.step, info.denoised, info.x, info.total)

    return on_step


class Guider:
    """GUIDER: a model and how its predictions are mixed (diffusion/guiders.py)."""

    def __init__(self, model: Any, guide: Guide) -> None:
        self.model = model
        self.model_patcher = model
        self.guide = guide

    def run(self, noise: torch.Tensor, latent: torch.Tensor, sampler: Any, sigmas: torch.Tensor, *,
            noise_mask: Optional[torch.Tensor] = None, callback: Optional[StepCallback] = None,
            seed: int = 0, batch_index: Any = None) -> torch.Tensor:
        """Sample `latent` (VAE space) from `noise` along `sigmas`; the result is in VAE space."""
        spec, options = sampler_value(sampler)
        return sample_sigmas(self.model, latent, [], [], cfg=1.0, sigmas=sigmas, noise=noise, seed=seed,
                             sampler=spec, sampler_options=options, noise_mask=noise_mask, callback=callback,
                             batch_index=batch_index, guide=self.guide)

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
               denoise_mask: Any = None, callback: Optional[Callable] = None, disable_pbar: bool = False,
               seed: Optional[int] = None, **_: Any) -> torch.Tensor:
        """ComfyUI's guider.sample, for node packs."""
        return self.run(noise, latent_image, sampler, sigmas, noise_mask=denoise_mask,
                        callback=_steps_reporter(callback), seed=seed or 0)


def add_noise(model: Any, noise: Any, sigmas: torch.Tensor, latent: dict) -> dict:
    """The latent with noise added for the span of `sigmas` (their first minus last), in the
    model's working space, as if sampling had stopped there."""
    if len(sigmas) == 0:
        return latent
    samples = latent["samples"]
    drawn = noise.generate_noise(latent)
    scale = torch.abs(sigmas[0] - sigmas[-1]) if len(sigmas) > 1 else sigmas[0]
    factor = float(model.latent_scale)
    working = samples * factor if torch.count_nonzero(samples) > 0 else samples
    noisy = sampling_of(model).noise_scaling(scale, drawn.to(working), working) / factor
    out = dict(latent)
    out["samples"] = torch.nan_to_num(noisy, nan=0.0, posinf=0.0, neginf=0.0)
    return out
