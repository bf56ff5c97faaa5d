"""The denoiser D(x, sigma) samplers call: a model, a guider and the conditioning batcher.

Samplers only see D(x, sigma) -> estimate of the clean latent, in k-diffusion's sigma form
(x = x0 + sigma * eps). The pieces behind it each do one job:

- the model's sampling object (diffusion/model_view.py, diffusion/parameterization.py):
  input scaling, sigma -> UNet timestep, and the eps / v / x0 / EDM / LCM output conversion;
- the conditioning batcher (diffusion/cond_batch.py): predictions for conditioning lists
  in as few UNet calls as possible, with areas, masks, ControlNets and extra inputs;
- a guider (diffusion/guiders.py): CFG for KSampler, or one of the GUIDER nodes'.

``MaskedDenoiser`` adds ComfyUI's inpainting behaviour on top.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import torch

from diffusion.cond_batch import ConditionPredictor, Step
from diffusion.cond_extras import CondEntry
from diffusion.guiders import CFGGuide, Guide
from diffusion.model_view import ModelSampling
from diffusion.types import Conditioning, UNetLike
from diffusion.unet_patches import StepState, step


def sampling_of(model: UNetLike) -> ModelSampling:
    """The model's schedule and parameterisation: a ModelSampling* node's object patch, or
    the one its checkpoint implies."""
    patched = (getattr(model, "object_patches", None) or {}).get("model_sampling")
    if patched is not None:
        return patched
    return ModelSampling(model.alphas_cumprod, model.prediction_type)


def keywords_of(fn: Callable) -> Optional[frozenset]:
    """The keyword inputs a function takes (None: any). A model following only the UNetLike
    protocol is not handed the inputs of families it does not implement; a sampler is not
    handed options it lacks."""
    import inspect

    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(params)


class Denoiser:
    """D(x, sigma) for one model and guider. `concat` feeds an inpainting (or instruct-pix2pix)
    UNet its extra input channels for an entry."""

    def __init__(self, model: UNetLike, guide: Guide,
                 concat: Optional[Callable[[CondEntry], torch.Tensor]] = None, seed: Optional[int] = None) -> None:
        self.model = model
        self.guide = guide
        self.seed = seed  # the sampling's: unCLIP / SDXL revision embeddings are noised with it
        self.sampling = sampling_of(model)
        self.sigmas = self.sampling.sigmas
        self.round_timesteps = self.sampling.discrete and bool(getattr(model, "discrete_timesteps", False))
        self.predictor = ConditionPredictor(self._unet_call, self.sampling.percent_to_sigma, concat)
        self._takes = keywords_of(model.apply_model)

    @property
    def unet_calls(self) -> int:
        return self.predictor.unet_calls

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Training timestep for each sigma, on the CPU. A UNet trained on whole timesteps gets
        the nearest one, as ComfyUI feeds it: the same seed then gives the same image."""
        t = self.sampling.timestep(sigma.detach().cpu())
        return t.round() if self.round_timesteps else t

    def _unet_call(self, x: torch.Tensor, sigma: torch.Tensor, c: dict, kinds: Sequence[int],
                   timestep: torch.Tensor) -> torch.Tensor:
        """One UNet evaluation through the model's wrapper hook, if it has one."""
        apply = functools.partial(self._apply_model, known=(sigma, timestep), kinds=tuple(kinds))
        return self.guide.guidance.call(apply, x, sigma, c, list(kinds))

    def _apply_model(self, x: torch.Tensor, sigma: torch.Tensor, c_crossattn: Optional[torch.Tensor] = None,
                     y: Optional[torch.Tensor] = None, c_concat: Optional[torch.Tensor] = None,
                     control: Any = None, known: tuple = (), kinds: tuple = (), **extra: Any) -> torch.Tensor:
        """The denoised estimate for x at `sigma` (ComfyUI's apply_model convention)."""
        x_in = self.sampling.calculate_input(sigma, x)
        if c_concat is not None:
            x_in = torch.cat([x_in, c_concat.to(x_in)], dim=1)
        known_sigma, known_t = known
        t = known_t if sigma is known_sigma else self.timestep(sigma).to(x.device)
        if self.seed is not None and (extra.get("unclip") is not None):
            extra = {**extra, "seed": self.seed}
        inputs = {key: value for key, value in extra.items()
                  if value is not None and (self._takes is None or key in self._takes)}
        if control:
            inputs["control"] = control
        with step(StepState(sigma.detach().cpu(), self.sigmas, kinds)):
            pred = self.model.apply_model(x_in, t, c_crossattn, y, **inputs).to(torch.float32)
        return self.sampling.calculate_denoised(sigma, pred, x)

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        sig = torch.as_tensor(sigma, dtype=torch.float32).detach().cpu().reshape(-1)
        if sig.numel() == 1:
            sig = sig.expand(x.shape[0]).contiguous()
        t = self.timestep(sig).to(x.device)  # sigma -> t on the CPU: no device sync per step
        now = Step(sig, sig.to(x.device), t, tuple(x.shape[-2:]))

        def predict(lists, kinds, x_in: Optional[torch.Tensor] = None):
            return self.predictor.predict(x if x_in is None else x_in, now, lists, kinds)

        return self.guide(predict, x, now.sigma)


class ModelDenoiser(Denoiser):
    """KSampler's denoiser: classifier-free guidance of positive against negative."""

    def __init__(self, model: UNetLike, positive: Conditioning, negative: Conditioning, cfg: float,
                 concat: Optional[Callable[[CondEntry], torch.Tensor]] = None, seed: Optional[int] = None) -> None:
        super().__init__(model, CFGGuide(model, positive, negative, cfg), concat, seed)
        self.cfg = float(cfg)
        self.positive, self.negative = self.guide.positive, self.guide.negative


class MaskedDenoiser:
    """Inpainting: outside the mask the latent is held at the original (plus this sigma's noise).

    Before each call the kept region of x is replaced by latent + sigma * noise; after it
    the estimate there is the original latent. mask: 1 = regenerate, 0 = keep.
    """

    def __init__(self, inner, latent: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor,
                 mask_function: Optional[Callable] = None, mask_options: Optional[dict] = None) -> None:
        self.inner, self.latent, self.noise, self.mask = inner, latent, noise, mask
        # A MODEL's denoise_mask_function (Differential Diffusion) picks the mask per step.
        self.mask_function, self.mask_options = mask_function, mask_options or {}

    def mask_at(self, sigma: float | torch.Tensor) -> torch.Tensor:
        if self.mask_function is None:
            return self.mask
        sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
        return self.mask_function(sigma, self.mask, extra_options=self.mask_options).to(self.mask)

    def noised_latent(self, sigma: float | torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=self.latent.dtype, device=self.latent.device).reshape(-1)
        return self.latent + self.noise * s.view(-1, *([1] * (self.latent.ndim - 1)))

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        mask = self.mask_at(sigma)
        keep = 1.0 - mask
        x = x * mask + self.noised_latent(sigma) * keep
        return self.inner(x, sigma) * mask + self.latent * keep
