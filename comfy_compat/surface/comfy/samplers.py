"""ComfyUI's `comfy.samplers`: the name lists, KSampler, KSAMPLER / sampler_object,
calculate_sigmas and CFGGuider, running on this app's samplers and denoiser."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import torch

from comfy_compat import runtime
from diffusion import sampling as studio_sampling
from diffusion.samplers import SAMPLER_NAMES as _STUDIO_SAMPLERS
from diffusion.samplers import SamplerSpec, get_sampler
from diffusion.schedules import SCHEDULER_NAMES as _STUDIO_SCHEDULERS
from diffusion.schedules import compute_sigmas

SAMPLER_NAMES: list[str] = list(_STUDIO_SAMPLERS)
KSAMPLER_NAMES: list[str] = [n for n in SAMPLER_NAMES if n not in ("ddim", "uni_pc", "uni_pc_bh2")]
SCHEDULER_NAMES: list[str] = list(_STUDIO_SCHEDULERS)


class SchedulerHandler(NamedTuple):
    handler: Callable
    use_ms: bool = True


def _handler(name: str) -> Callable:
    def schedule(model_sampling: Any, steps: int) -> torch.Tensor:
        return compute_sigmas(model_sampling.sigmas, name, steps)

    return schedule


SCHEDULER_HANDLERS: dict[str, SchedulerHandler] = {name: SchedulerHandler(_handler(name)) for name in SCHEDULER_NAMES}


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> torch.Tensor:
    handler = SCHEDULER_HANDLERS.get(scheduler_name)
    if handler is None:
        raise ValueError(f"error invalid scheduler {scheduler_name}")
    if handler.use_ms:
        return handler.handler(model_sampling, steps)
    return handler.handler(n=steps, sigma_min=float(model_sampling.sigma_min), sigma_max=float(model_sampling.sigma_max))


def _step_reporter(callback: Optional[Callable]) -> Callable:
    """The app's step callback from ComfyUI's callback(step, x0, x, total_steps); interrupts are honoured."""
    ctx = runtime.current()

    def on_step(info: Any) -> None:
        if ctx is not None:
            ctx.check_interrupted()
        if callback is not None:
            callback(info.step, info.denoised, info.x, info.total)

    return on_step


class Sampler:
    def sample(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def max_denoise(self, model_wrap: Any, sigmas: torch.Tensor) -> bool:
        sampling = model_wrap.get_model_object("model_sampling") if hasattr(model_wrap, "get_model_object") \
            else model_wrap.model_sampling
        return float(sigmas[0]) >= float(sampling.sigma_max) * (1 - 1e-5)


def _spec_from_kdiffusion(function: Callable, extra_options: dict) -> SamplerSpec:
    """A pack's k-diffusion style sampler function as one of the app's samplers; it gets the
    prompt's seed in `extra_args`, as ComfyUI passes it, for its own noise samplers."""
    def run(denoiser: Callable, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: Any = None,
            callback: Any = None, seed: Optional[int] = None) -> torch.Tensor:
        from diffusion.types import StepInfo

        total = len(sigmas) - 1

        def model(x_in: torch.Tensor, sigma: torch.Tensor, **_: Any) -> torch.Tensor:
            return denoiser(x_in, sigma)

        def report(d: dict) -> None:
            if callback is not None:
                callback(StepInfo(int(d["i"]), total, d["x"], d["denoised"], float(d.get("sigma", 0.0))))

        extra_args = {} if seed is None else {"seed": seed}
        return function(model, x, sigmas, extra_args=extra_args, callback=report, disable=True, **extra_options)

    return SamplerSpec(run, noise="none", needs_seed=True)


class KSAMPLER(Sampler):
    """A sampler: one of the app's by name, or a k-diffusion style function."""

    def __init__(self, sampler_function: Any, extra_options: Optional[dict] = None,
                 inpaint_options: Optional[dict] = None) -> None:
        self.sampler_function = sampler_function
        self.extra_options = dict(extra_options or {})
        self.inpaint_options = dict(inpaint_options or {})
        self.spec = sampler_function if isinstance(sampler_function, SamplerSpec) else \
            _spec_from_kdiffusion(sampler_function, self.extra_options)


def ksampler(sampler_name: str, extra_options: Optional[dict] = None, inpaint_options: Optional[dict] = None) -> KSAMPLER:
    return KSAMPLER(get_sampler(sampler_name), extra_options, inpaint_options)


def sampler_object(name: str) -> KSAMPLER:
    return ksampler(name)


def _run(model: Any, noise: torch.Tensor, positive: Any, negative: Any, cfg: float, sampler: Any,
         sigmas: torch.Tensor, latent_image: Optional[torch.Tensor], denoise_mask: Any, callback: Any,
         seed: Optional[int], denoiser: Optional[Callable] = None) -> torch.Tensor:
    from diffusion.custom_sampling import sampler_value

    if isinstance(sampler, KSAMPLER):  # a pack's function has its options bound already
        spec = sampler.spec
        options = sampler.extra_options if isinstance(sampler.sampler_function, SamplerSpec) else {}
    else:
        spec, options = sampler_value(sampler)
    latent = latent_image if latent_image is not None else torch.zeros_like(noise)
    return studio_sampling.sample_sigmas(model, latent, positive, negative or [], cfg=cfg, sigmas=sigmas,
                                         noise=noise, seed=seed or 0, sampler=spec, sampler_options=options,
                                         noise_mask=denoise_mask, callback=_step_reporter(callback),
                                         denoiser=denoiser)


class CFGGuider:
    """Positive/negative conditioning and cfg for a model; `sample` runs a sampler over sigmas."""

    def __init__(self, model_patcher: Any) -> None:
        self.model_patcher = model_patcher
        self.model_options = getattr(model_patcher, "model_options", {})
        self.original_conds: dict = {}
        self.cfg = 1.0

    def set_conds(self, positive: Any, negative: Any) -> None:
        self.inner_set_conds({"positive": positive, "negative": negative})

    def set_cfg(self, cfg: float) -> None:
        self.cfg = float(cfg)

    def inner_set_conds(self, conds: dict) -> None:
        self.original_conds.update(conds)

    @property
    def conds(self) -> dict:
        return self.original_conds

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor, model_options: Optional[dict] = None,
                      seed: Optional[int] = None) -> torch.Tensor:
        return sampling_function(self.model_patcher, x, timestep, self.original_conds.get("negative"),
                                 self.original_conds.get("positive"), self.cfg, model_options or {}, seed)

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
               denoise_mask: Any = None, callback: Any = None, disable_pbar: bool = False,
               seed: Optional[int] = None, **_: Any) -> torch.Tensor:
        if len(sigmas) < 2:
            return latent_image
        if type(self).predict_noise is not CFGGuider.predict_noise:
            return _run_custom_guider(self, noise, latent_image, sampler, sigmas, denoise_mask, callback, seed)
        return _run(self.model_patcher, noise, self.original_conds.get("positive"),
                    self.original_conds.get("negative"), self.cfg, sampler, sigmas, latent_image, denoise_mask,
                    callback, seed)


def _run_custom_guider(guider: CFGGuider, noise, latent_image, sampler, sigmas, denoise_mask, callback, seed):
    """A guider subclass with its own predict_noise: the sampler asks it for each step."""
    from diffusion.sampling import GuidedDenoise

    denoise = GuidedDenoise(lambda x, sigma: guider.predict_noise(x, sigma, guider.model_options, seed))
    return _run(guider.model_patcher, noise, guider.original_conds.get("positive") or [], [], 1.0, sampler, sigmas,
                latent_image, denoise_mask, callback, seed, denoiser=denoise)


def sampling_function(model: Any, x: torch.Tensor, timestep: torch.Tensor, uncond: Any, cond: Any,
                      cond_scale: float, model_options: Optional[dict] = None, seed: Optional[int] = None) -> torch.Tensor:
    """The guided denoised estimate of x at sigma `timestep` (ComfyUI's convention)."""
    from diffusion.denoiser import ModelDenoiser

    owner = getattr(model, "_owner", model)
    return ModelDenoiser(owner, cond or [], uncond or [], cond_scale)(x, timestep)


def sample(model: Any, noise: torch.Tensor, positive: Any, negative: Any, cfg: float, device: Any, sampler: Any,
           sigmas: torch.Tensor, model_options: Optional[dict] = None, latent_image: Any = None,
           denoise_mask: Any = None, callback: Any = None, disable_pbar: bool = False,
           seed: Optional[int] = None) -> torch.Tensor:
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)


class KSampler:
    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}

    def __init__(self, model: Any, steps: int, device: Any, sampler: Optional[str] = None,
                 scheduler: Optional[str] = None, denoise: Optional[float] = None,
                 model_options: Optional[dict] = None) -> None:
        self.model = model
        self.device = device
        self.scheduler = scheduler if scheduler in self.SCHEDULERS else self.SCHEDULERS[0]
        self.sampler = sampler if sampler in self.SAMPLERS else self.SAMPLERS[0]
        self.model_options = model_options or {}
        self.set_steps(steps, denoise)
        self.denoise = denoise

    def calculate_sigmas(self, steps: int) -> torch.Tensor:
        return studio_sampling.calculate_sigmas(self.model, self.sampler, self.scheduler, steps, 1.0)

    def set_steps(self, steps: int, denoise: Optional[float] = None) -> None:
        self.steps = steps
        self.sigmas = studio_sampling.calculate_sigmas(self.model, self.sampler, self.scheduler, steps,
                                                       1.0 if denoise is None else denoise)

    def sample(self, noise: torch.Tensor, positive: Any, negative: Any, cfg: float, latent_image: Any = None,
               start_step: Optional[int] = None, last_step: Optional[int] = None, force_full_denoise: bool = False,
               denoise_mask: Any = None, sigmas: Optional[torch.Tensor] = None, callback: Any = None,
               disable_pbar: bool = False, seed: Optional[int] = None) -> torch.Tensor:
        sigmas = self.sigmas if sigmas is None else sigmas
        sigmas = studio_sampling._slice(sigmas, start_step, last_step, force_full_denoise)
        if len(sigmas) < 2:
            return latent_image if latent_image is not None else torch.zeros_like(noise)
        return _run(self.model, noise, positive, negative, cfg, ksampler(self.sampler), sigmas, latent_image,
                    denoise_mask, callback, seed)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
