"""The KSampler entry point: seed, schedule, noise, guidance, inpainting mask, sampler.

Semantics follow ComfyUI's KSampler / KSamplerAdvanced so that a workflow's seed,
steps, denoise and step range select the same sigmas and the same starting noise.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from diffusion import memory_manager
from diffusion.cond_batch import PerEntryInput
from diffusion.denoiser import Denoiser, MaskedDenoiser, ModelDenoiser, keywords_of, sampling_of
from diffusion.guiders import CFGGuide, Guide
from diffusion.samplers_extra import UncondHolder, scaled_noise
from diffusion.samplers import SAMPLER_NAMES, SamplerSpec, get_sampler, noise_source
from diffusion.schedules import SCHEDULER_NAMES, compute_sigmas
from diffusion.types import Conditioning, StepCallback, UNetLike
from diffusion.x4_upscaler import LowResConcat

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES", "prepare_noise", "calculate_sigmas", "sample", "sample_sigmas"]


def prepare_noise(latent: torch.Tensor, seed: int, batch_index: Optional[Sequence[int]] = None) -> torch.Tensor:
    """The starting noise for a seed: as torch.manual_seed(seed); torch.randn(shape) on the CPU,
    so that one seed gives one image whatever the device.

    With `batch_index` (latents picked from a batch by LatentFromBatch), noise is drawn one
    image at a time up to the largest index and each latent gets its index's, as ComfyUI does."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    if batch_index is None:
        return torch.randn(tuple(latent.shape), generator=g, dtype=torch.float32, device="cpu")
    wanted = sorted(set(int(i) for i in batch_index))
    drawn: dict[int, torch.Tensor] = {}
    for i in range(wanted[-1] + 1):
        noise = torch.randn((1, *latent.shape[1:]), generator=g, dtype=torch.float32, device="cpu")
        if i in wanted:
            drawn[i] = noise
    return torch.cat([drawn[int(i)] for i in batch_index])


def calculate_sigmas(
    model: UNetLike, sampler_name: str, scheduler: str, steps: int, denoise: float = 1.0
) -> torch.Tensor:
    """KSampler's sigmas: partial denoise keeps the tail of a longer schedule.

    dpm_2 and uni_pc samplers schedule one step more and drop the next-to-last sigma,
    as ComfyUI does (their last step to 0 is cheap). An empty tensor means "nothing to do".
    """
    if steps <= 0 or denoise <= 0.0:
        return torch.zeros(0)
    spec = get_sampler(sampler_name)
    full = steps if denoise > 0.9999 else int(steps / denoise)
    if spec.discard_penultimate_sigma:
        full += 1
    sigmas = compute_sigmas(sampling_of(model).sigmas, scheduler, full)
    if spec.discard_penultimate_sigma:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas if denoise > 0.9999 else sigmas[-(steps + 1):]


def _slice(
    sigmas: torch.Tensor, start_step: Optional[int], last_step: Optional[int], force_full_denoise: bool
) -> torch.Tensor:
    """KSamplerAdvanced's step range; force_full_denoise only matters when the range ends early."""
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0.0
    if start_step is not None:
        sigmas = sigmas[start_step:] if start_step < len(sigmas) - 1 else sigmas[:0]
    return sigmas


def _prepare_mask(mask: torch.Tensor, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Any [h,w] / [B,h,w] / [B,1,h,w] mask -> [B,1,h,w] float at latent resolution."""
    m = mask.to(device, torch.float32)
    m = m.reshape(-1, 1, m.shape[-2], m.shape[-1])
    if tuple(m.shape[-2:]) != tuple(shape[-2:]):
        m = F.interpolate(m, size=tuple(shape[-2:]), mode="bilinear")
    batch = shape[0]
    if m.shape[0] < batch:
        m = m.repeat(math.ceil(batch / m.shape[0]), 1, 1, 1)
    return m[:batch]


class InpaintConcat(PerEntryInput):
    """The extra UNet input of an inpainting model (9 channels = latent + mask + masked image)
    or an instruct-pix2pix one (8 = latent + source image latent).

    Per conditioning: its `concat_mask` / `concat_latent_image` (InpaintModelConditioning),
    else the sampler's noise mask and the input latent, else a full mask and a blank image,
    as ComfyUI's concat_cond chooses them."""

    def __init__(self, latent: torch.Tensor, mask: Optional[torch.Tensor], scale: float, channels: int) -> None:
        super().__init__()
        self.latent, self.mask, self.scale, self.channels = latent, mask, scale, channels

    def _image(self, entry) -> torch.Tensor:
        """The entry's concat_latent_image, scaled, resized and repeated to the latent's batch."""
        shape, device = self.latent.shape, self.latent.device
        image = entry.concat_image.to(device, torch.float32) * self.scale
        if tuple(image.shape[-2:]) != tuple(shape[-2:]):
            image = F.interpolate(image, size=tuple(shape[-2:]), mode="bilinear")
        return image.repeat(math.ceil(shape[0] / image.shape[0]), 1, 1, 1)[: shape[0]]

    def _build(self, entry) -> torch.Tensor:
        shape, device = self.latent.shape, self.latent.device
        if self.channels == shape[1]:
            # Instruct-pix2pix: the extra input is the source image's latent alone.
            return self._image(entry) if entry.concat_image is not None else torch.zeros_like(self.latent)
        mask = self.mask
        if entry.concat_mask is not None:
            mask = _prepare_mask(entry.concat_mask, shape, device)
        if mask is None:
            mask = torch.ones(shape[0], 1, *shape[-2:], device=device)
            image = torch.zeros_like(self.latent)
        elif entry.concat_image is not None:
            image = self._image(entry)
        else:
            image = self.latent
        extra = torch.cat([mask, image], dim=1)
        if extra.shape[1] != self.channels:
            raise ValueError(f"the model takes {self.channels} extra input channels; inpainting gives {extra.shape[1]}")
        return extra


class GuidedDenoise:
    """A denoiser given as fn(x, sigma per row) -> denoised, such as a custom guider's."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
        if s.numel() == 1:
            s = s.expand(x.shape[0])
        return self.fn(x, s.to(x.device))


def accepts(fn: Callable, name: str) -> bool:
    """Whether a sampler function takes the keyword `name`."""
    names = keywords_of(fn)
    return names is None or name in names


def _sampling_modules(model: UNetLike, guide: Optional[Guide], *conditionings: Conditioning) -> list:
    """The modules a sampling runs: the UNet and the ControlNets / T2I-Adapters its
    conditionings carry (a GUIDER node's lists included)."""
    links = [(item[1] or {}).get("control") for cond in conditionings for item in cond or [] if len(item) > 1]
    links += [entry.control for entry in (guide.entries if guide is not None else [])]
    modules = [getattr(model, "unet", None)]
    for link in links:
        for each in (link.chain() if link is not None else []):
            modules.append(getattr(each.control_net, "module", None))
    return modules


def _patched(model: UNetLike) -> contextlib.AbstractContextManager:
    """The model's weight patches (LoRA) for the whole loop; models without any: nothing."""
    patched = getattr(model, "patched", None)
    return patched() if patched is not None else contextlib.nullcontext()


def sample(
    model: UNetLike,
    latent: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    *,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    denoise: float = 1.0,
    add_noise: bool = True,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
    noise_mask: torch.Tensor | None = None,
    callback: StepCallback | None = None,
    batch_index: Sequence[int] | None = None,
) -> torch.Tensor:
    """Sample a latent (unscaled VAE space [B,4,h,w]); returns the result in the same space.

    Nothing to do (denoise 0, an empty step range) returns the input unchanged. At the
    model's largest sigma the noise is scaled by sqrt(1 + sigma^2), as ComfyUI does for a
    full denoise. A callback exception stops sampling and propagates.
    """
    spec = get_sampler(sampler_name)
    if scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {scheduler!r}; expected one of {SCHEDULER_NAMES}")
    sigmas = _slice(calculate_sigmas(model, sampler_name, scheduler, steps, denoise),
                    start_step, last_step, force_full_denoise)
    if len(sigmas) < 2:
        return latent.clone()
    if batch_index is not None and len(batch_index) != latent.shape[0]:
        batch_index = None  # stale indices (the batch changed since): plain noise
    noise = prepare_noise(latent, seed, batch_index) if add_noise else torch.zeros(latent.shape)
    return sample_sigmas(model, latent, positive, negative, cfg=cfg, sigmas=sigmas, noise=noise, seed=seed,
                         sampler=spec, noise_mask=noise_mask, callback=callback, batch_index=batch_index)


def sample_sigmas(
    model: UNetLike,
    latent: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    *,
    cfg: float,
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    seed: int,
    sampler: SamplerSpec,
    noise_mask: torch.Tensor | None = None,
    callback: StepCallback | None = None,
    batch_index: Sequence[int] | None = None,
    denoiser: Optional[Callable[[torch.Tensor, float], torch.Tensor]] = None,
    guide: Optional[Guide] = None,
    sampler_options: Optional[dict] = None,
) -> torch.Tensor:
    """Sample along given sigmas from given starting noise (custom sampling graphs and
    ComfyUI's comfy.sample calls come in here); same space in and out as `sample`.
    `guide` replaces classifier-free guidance of positive against negative (a GUIDER
    node's); `denoiser` replaces the whole guided denoiser (a pack's own guider).
    `sampler_options` are a SAMPLER node's settings (eta, s_noise, order, ...)."""
    if len(sigmas) < 2:
        return latent.clone()
    spec = sampler
    device = torch.device(model.device)
    scale = float(model.latent_scale)
    clean = latent.to(device, torch.float32) * scale
    noise = noise.to(device, torch.float32)
    sigmas = sigmas.to(torch.float32).cpu()
    sigma0, sigma_max = float(sigmas[0]), float(sampling_of(model).sigmas[-1])
    full = math.isclose(sigma0, sigma_max, rel_tol=1e-5) or sigma0 > sigma_max
    x = clean + noise * (math.sqrt(1.0 + sigma0**2) if full else sigma0)

    mask = _prepare_mask(noise_mask, clean.shape, device) if noise_mask is not None else None
    concat = None
    extra_channels = int(getattr(model, "in_channels", clean.shape[1])) - clean.shape[1]
    if getattr(model, "x4_upscaler", False):
        concat = LowResConcat(clean, seed)
    elif extra_channels > 0:
        concat = InpaintConcat(clean, mask, scale, extra_channels)
    options = dict(sampler_options or {})
    if spec.needs_uncond:
        holder = UncondHolder()
        options["uncond"] = holder
        if guide is None:
            guide = CFGGuide(model, positive, negative, cfg)
        guide = guide.with_post(holder.hook)
    if denoiser is None and guide is not None:
        denoiser = Denoiser(model, guide, concat=concat, seed=seed)
    elif denoiser is None:
        denoiser = ModelDenoiser(model, positive, negative, cfg, concat=concat, seed=seed)
    if mask is not None:
        kept_noise = noise
        if spec.inpaint_noise_offset is not None:
            offset_seed = (int(seed) + spec.inpaint_noise_offset) % 2**64
            kept_noise = prepare_noise(latent, offset_seed, batch_index).to(device)
        mask_function = (getattr(model, "model_options", None) or {}).get("denoise_mask_function")
        mask_options = {"model": model, "sigmas": sigmas, "model_sampling": sampling_of(model)}
        denoiser = MaskedDenoiser(denoiser, clean, kept_noise, mask, mask_function, mask_options)

    noise_sampler = noise_source(spec, x, sigmas, seed)
    if spec.needs_seed:
        options["seed"] = seed

    if accepts(spec.fn, "tau_start") and "tau_start" not in options:
        # KSampler's SA-Solver: stochastic from 20% to 80% of the model's sampling, as in ComfyUI
        sampling = sampling_of(model)
        options["tau_start"], options["tau_end"] = sampling.percent_to_sigma(0.2), sampling.percent_to_sigma(0.8)
    if "s_noise" in options and not accepts(spec.fn, "s_noise"):
        noise_sampler = scaled_noise(noise_sampler, float(options.pop("s_noise")))
    unknown = [key for key in options if not accepts(spec.fn, key)]
    if unknown:
        raise ValueError(f"sampler options {unknown} are not supported by this sampler")
    room = memory_manager.sampling_bytes(x.shape, torch.empty((), dtype=model.dtype).element_size()) \
        if hasattr(model, "dtype") else 0
    with memory_manager.using(_sampling_modules(model, guide, positive, negative), "unet", room), _patched(model):
        out = spec.fn(denoiser, x, sigmas, noise_sampler=noise_sampler, callback=callback, **options)
    result = out / scale
    if mask is not None:
        assert isinstance(denoiser, MaskedDenoiser)
        last = float(sigmas[-1])
        # Blend in unscaled space so that the kept region is the input latent, bit for bit.
        kept = latent.to(device, torch.float32) if last == 0.0 else denoiser.noised_latent(last) / scale
        result = result * mask + kept * (1.0 - mask)
    return result.to(latent.device, torch.float32)
