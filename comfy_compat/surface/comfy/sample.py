"""ComfyUI's `comfy.sample`: noise for a seed, and the sampling calls nodes make."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from diffusion.sampling import prepare_noise as _studio_noise

import comfy.samplers as samplers
from comfy.utils import reshape_mask


def prepare_noise(latent_image: torch.Tensor, seed: int, noise_inds: Optional[Sequence[int]] = None) -> torch.Tensor:
    """torch.manual_seed(seed) noise of the latent's shape on the CPU (per batch index when given)."""
    return _studio_noise(latent_image, seed, noise_inds)


def prepare_empty_noise(latent_image: torch.Tensor, seed: int = 0, noise_inds: Any = None) -> torch.Tensor:
    return torch.zeros(latent_image.shape, dtype=latent_image.dtype, layout=latent_image.layout, device="cpu")


def fix_empty_latent_channels(model: Any, latent_image: torch.Tensor, *_: Any) -> torch.Tensor:
    channels = getattr(getattr(getattr(model, "model", None), "latent_format", None), "latent_channels", None)
    if channels and latent_image.shape[1] != channels and torch.count_nonzero(latent_image) == 0:
        from comfy.utils import repeat_to_batch_size

        return repeat_to_batch_size(latent_image, channels, dim=1)
    return latent_image


def prepare_mask(noise_mask: torch.Tensor, shape: Any, device: Any) -> torch.Tensor:
    return reshape_mask(noise_mask, shape).to(device)


def sample(model: Any, noise: torch.Tensor, steps: int, cfg: float, sampler_name: str, scheduler: str,
           positive: Any, negative: Any, latent_image: torch.Tensor, denoise: float = 1.0,
           disable_noise: bool = False, start_step: Optional[int] = None, last_step: Optional[int] = None,
           force_full_denoise: bool = False, noise_mask: Any = None, sigmas: Any = None, callback: Any = None,
           disable_pbar: bool = False, seed: Optional[int] = None) -> torch.Tensor:
    sampler = samplers.KSampler(model, steps, getattr(model, "load_device", None), sampler_name, scheduler, denoise,
                                getattr(model, "model_options", {}))
    out = sampler.sample(noise, positive, negative, cfg, latent_image, start_step, last_step, force_full_denoise,
                         noise_mask, sigmas, callback, disable_pbar, seed)
    return out.to("cpu")


def sample_custom(model: Any, noise: torch.Tensor, cfg: float, sampler: Any, sigmas: torch.Tensor, positive: Any,
                  negative: Any, latent_image: torch.Tensor, noise_mask: Any = None, callback: Any = None,
                  disable_pbar: bool = False, seed: Optional[int] = None) -> torch.Tensor:
    out = samplers.sample(model, noise, positive, negative, cfg, None, sampler, sigmas, latent_image=latent_image,
                          denoise_mask=noise_mask, callback=callback, disable_pbar=disable_pbar, seed=seed)
    return out.to("cpu")


def prepare_sampling(model: Any, noise_shape: Any, positive: Any, negative: Any, noise_mask: Any):
    return model, positive, negative, noise_mask, []


def cleanup_additional_models(models: Any) -> None:
    pass


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
