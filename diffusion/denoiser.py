"""Turn a UNet (eps or v prediction) into a denoiser D(x, sigma) with classifier-free guidance.

Samplers only see D(x, sigma) -> estimate of the clean latent, in k-diffusion's sigma
form (x = x0 + sigma * eps). Here live the input scaling, the sigma -> timestep map,
the eps/v output conversion, CFG, and the batching of all conditionings into as few
UNet calls as possible. ``MaskedDenoiser`` adds ComfyUI's inpainting behaviour on top.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from diffusion.guidance import Guidance
from diffusion.model_view import ModelSampling
from diffusion.regions import NEVER, Region, percent_to_sigma, region_for
from diffusion.schedules import sigma_to_t
from diffusion.types import Conditioning, UNetLike

MAX_REPEAT = 4  # like ComfyUI: contexts are repeated to a common length at most 4x


@dataclass(frozen=True)
class CondEntry:
    """One conditioning: context [b,T,D], optional pooled [b,P], weight in the average, and
    ComfyUI's optional extras: where it applies (area, mask), when (timestep range as
    percents of the sampling), and an inpainting model's image and mask."""

    context: torch.Tensor
    pooled: Optional[torch.Tensor]
    strength: float = 1.0
    area: Optional[tuple] = None
    mask: Optional[torch.Tensor] = None
    mask_strength: float = 1.0
    set_area_to_bounds: bool = False
    start_percent: float = 0.0
    end_percent: float = 1.0
    concat_image: Optional[torch.Tensor] = None
    concat_mask: Optional[torch.Tensor] = None
    control: Optional[object] = None  # a diffusion.controlnet.ControlHint chain

    @property
    def is_regional(self) -> bool:
        """Needs the per-region path: an area, a mask or a timestep range."""
        return (self.area is not None or self.mask is not None or self.start_percent > 0.0
                or self.end_percent < 1.0)


def parse_conditioning(cond: Conditioning) -> list[CondEntry]:
    """ComfyUI's [[embedding, extras], ...] into entries."""
    out = []
    for item in cond or []:
        emb, extras = item[0], (item[1] if len(item) > 1 and item[1] is not None else {})
        if emb.ndim == 2:
            emb = emb.unsqueeze(0)
        pooled = extras.get("pooled_output")
        if pooled is not None and pooled.ndim == 1:
            pooled = pooled.unsqueeze(0)
        out.append(CondEntry(
            emb, pooled, float(extras.get("strength", 1.0)),
            area=extras.get("area"), mask=extras.get("mask"),
            mask_strength=float(extras.get("mask_strength", 1.0)),
            set_area_to_bounds=bool(extras.get("set_area_to_bounds", False)),
            start_percent=float(extras.get("start_percent", 0.0)),
            end_percent=float(extras.get("end_percent", 1.0)),
            concat_image=extras.get("concat_latent_image"), concat_mask=extras.get("concat_mask"),
            control=extras.get("control"),
        ))
    return out


def _to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    """Share a [1,...] (or [k,...], k dividing batch) conditioning across the latent batch."""
    if t.shape[0] == batch:
        return t
    if batch % t.shape[0] == 0:
        return t.repeat(batch // t.shape[0], *([1] * (t.ndim - 1)))
    raise ValueError(f"conditioning batch {t.shape[0]} does not divide latent batch {batch}")


def _pooled_key(e: CondEntry) -> Optional[int]:
    return None if e.pooled is None else int(e.pooled.shape[-1])


def group_entries(entries: Sequence[CondEntry]) -> list[list[int]]:
    """Indices of entries that can share one UNet call.

    They need the same context width and pooled layout; token counts may differ if
    repeating each context to their least common multiple costs at most MAX_REPEAT x
    (repeating keys leaves cross-attention unchanged).
    """
    groups: list[list[int]] = []
    for i, e in enumerate(entries):
        for g in groups:
            first = entries[g[0]]
            if first.context.shape[-1] != e.context.shape[-1] or _pooled_key(first) != _pooled_key(e):
                continue
            if first.control is not e.control:  # one UNet call takes one set of ControlNets
                continue
            lengths = [entries[j].context.shape[1] for j in g] + [e.context.shape[1]]
            if math.lcm(*lengths) // min(lengths) <= MAX_REPEAT:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


class ModelDenoiser:
    """D(x, sigma) = uncond + (cond - uncond) * cfg, from one UNet call per group of conds.

    Conditionings with areas, masks or timestep ranges are predicted per region and
    averaged per pixel (diffusion/regions.py); without any, the plain path runs.
    `concat` feeds an inpainting UNet its extra input channels (mask + masked image)."""

    def __init__(
        self, model: UNetLike, positive: Conditioning, negative: Conditioning, cfg: float,
        concat: Optional[Callable[[CondEntry], torch.Tensor]] = None,
    ) -> None:
        self.model = model
        self.cfg = float(cfg)
        self.positive = parse_conditioning(positive)
        self.negative = parse_conditioning(negative)
        if not self.positive:
            raise ValueError("positive conditioning is empty")
        self.sampling = ModelSampling(model.alphas_cumprod, model.prediction_type)
        self.sigmas = self.sampling.sigmas
        self.guidance = Guidance(model, self.cfg, positive, negative)
        self.use_uncond = self.guidance.needs_uncond(bool(self.negative))
        self.unet_calls = 0
        self.concat = concat
        self.regional = any(e.is_regional for e in self.positive + self.negative)
        self._ranges = {id(e): (percent_to_sigma(e.start_percent, self.sigmas),
                                percent_to_sigma(e.end_percent, self.sigmas))
                        for e in self.positive + self.negative}
        self._regions: dict[tuple, Region] = {}
        self._now, self._latent_size = 0.0, (0, 0)  # this call's sigma and latent size

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Training timestep for each sigma, on the CPU."""
        t = sigma_to_t(sigma.detach().cpu(), self.sigmas)
        # A UNet trained on whole timesteps gets the nearest one, as ComfyUI feeds it:
        # the same seed then gives the same image.
        return t.round() if getattr(self.model, "discrete_timesteps", False) else t

    def _run_group(
        self, x: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor, entries: list[CondEntry],
        window: Optional[tuple[slice, slice]] = None,
    ) -> list[torch.Tensor]:
        """Denoised estimates of x, one per entry, from one UNet call."""
        batch = x.shape[0]
        dev = x.device
        length = math.lcm(*[e.context.shape[1] for e in entries])
        contexts, pooled = [], []
        for e in entries:
            ctx = _to_batch(e.context.to(dev, torch.float32), batch)
            contexts.append(ctx.repeat(1, length // ctx.shape[1], 1))
            if e.pooled is not None:
                pooled.append(_to_batch(e.pooled.to(dev, torch.float32), batch))
        n = len(entries)
        c: dict = {"c_crossattn": torch.cat(contexts), "y": torch.cat(pooled) if pooled else None}
        if self.concat is not None:
            extras = []
            for e in entries:
                extra = _to_batch(self.concat(e).to(dev), batch)
                extras.append(extra[..., window[0], window[1]] if window is not None else extra)
            c["c_concat"] = torch.cat(extras)
        if entries[0].control is not None:
            control = self._control(entries[0].control, x, sigma, n, window)
            if control:
                c["control"] = control
        x_in = x.repeat(n, *([1] * (x.ndim - 1)))
        sigma_in = sigma.repeat(n)
        self._t_for = (sigma_in, t.repeat(n))
        kinds = [0 if any(e is p for p in self.positive) else 1 for e in entries]
        out = self.guidance.call(self._apply_model, x_in, sigma_in, c, kinds)
        self.unet_calls += 1
        return list(out.to(torch.float32).chunk(n))

    def _apply_model(self, x: torch.Tensor, sigma: torch.Tensor, c_crossattn: Optional[torch.Tensor] = None,
                     y: Optional[torch.Tensor] = None, c_concat: Optional[torch.Tensor] = None,
                     control: Any = None, **_: Any) -> torch.Tensor:
        """The denoised estimate for x at `sigma` (ComfyUI's apply_model convention)."""
        x_in = self.sampling.calculate_input(sigma, x)
        if c_concat is not None:
            x_in = torch.cat([x_in, c_concat.to(x_in)], dim=1)
        known_sigma, known_t = self._t_for
        t = known_t if sigma is known_sigma else self.timestep(sigma).to(x.device)
        extra = {"control": control} if control else {}
        pred = self.model.apply_model(x_in, t, c_crossattn, y, **extra).to(torch.float32)
        return self.sampling.calculate_denoised(sigma, pred, x)

    def _control(self, hint, x: torch.Tensor, sigma: torch.Tensor, n: int, window) -> list:
        """(ControlNet, hint pixels, strength) of the chain's links active at this sigma."""
        from diffusion.controlnet import hint_for

        now = self._now
        full_h, full_w = self._latent_size
        out = []
        for link in hint.chain():
            start = percent_to_sigma(link.start_percent, self.sigmas)
            end = percent_to_sigma(link.end_percent, self.sigmas)
            if not end <= now <= start or link.strength == 0.0:
                continue
            pixels = hint_for(link.image, full_h * 8, full_w * 8, x.shape[0])
            if window is not None:
                ys, xs = window
                pixels = pixels[..., ys.start * 8:ys.stop * 8, xs.start * 8:xs.stop * 8]
            out.append((link.control_net, pixels.repeat(n, 1, 1, 1), link.strength))
        return out

    def _predict(
        self, x: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor, entries: list[CondEntry]
    ) -> list[torch.Tensor]:
        preds: list[Optional[torch.Tensor]] = [None] * len(entries)
        for group in group_entries(entries):
            for i, p in zip(group, self._run_group(x, sigma, t, [entries[i] for i in group])):
                preds[i] = p
        return preds  # type: ignore[return-value]

    @staticmethod
    def _average(preds: list[torch.Tensor], entries: list[CondEntry]) -> torch.Tensor:
        if len(preds) == 1:
            return preds[0]
        total = sum(e.strength for e in entries)
        if total == 0:
            raise ValueError("conditioning strengths sum to zero")
        return sum(p * (e.strength / total) for p, e in zip(preds, entries))  # type: ignore[return-value]

    def _active(self, entry: CondEntry, sigma: float) -> bool:
        start, end = self._ranges[id(entry)]
        return end <= sigma <= start

    def _regional(
        self, x: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor, entries: list[CondEntry]
    ) -> torch.Tensor:
        """Per-pixel weighted average of each active entry's prediction on its region."""
        height, width = x.shape[-2:]
        out = torch.zeros_like(x)
        weights = torch.full_like(x[:, :1], NEVER)
        by_area: dict[tuple, list[tuple[CondEntry, Region]]] = {}
        for e in entries:
            if not self._active(e, self._now):
                continue
            key = (id(e), height, width)
            region = self._regions.get(key)
            if region is None:  # the same every step: computed once
                region = self._regions[key] = region_for(height, width, e.strength, e.area, e.mask,
                                                         e.mask_strength, e.set_area_to_bounds, x.device)
            by_area.setdefault(region.area, []).append((e, region))
        for members in by_area.values():
            ys, xs = members[0][1].slices()
            crop = x[..., ys, xs]
            group_in = [e for e, _ in members]
            for group in group_entries(group_in):
                preds = self._run_group(crop, sigma, t, [group_in[i] for i in group], (ys, xs))
                for i, pred in zip(group, preds):
                    weight = _to_batch(members[i][1].weight.to(x.device), x.shape[0])
                    out[..., ys, xs] += pred * weight
                    weights[..., ys, xs] += weight
        return out / weights

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        sig = torch.as_tensor(sigma, dtype=torch.float32).detach().cpu().reshape(-1)
        if sig.numel() == 1:
            sig = sig.expand(x.shape[0]).contiguous()
        t = self.timestep(sig).to(x.device)  # sigma -> t on the CPU: no device sync per step
        self._now, self._latent_size = float(sig.max()), tuple(x.shape[-2:])
        if self.regional:
            sig_dev = sig.to(x.device)
            cond = self._regional(x, sig_dev, t, self.positive)
            if not self.use_uncond:
                return self.guidance.combine(x, sig_dev, cond, None)
            uncond = self._regional(x, sig_dev, t, self.negative)
            return self.guidance.combine(x, sig_dev, cond, uncond)
        entries = self.positive + (self.negative if self.use_uncond else [])
        preds = self._predict(x, sig.to(x.device), t, entries)
        n_pos = len(self.positive)
        cond = self._average(preds[:n_pos], self.positive)
        uncond = self._average(preds[n_pos:], self.negative) if self.use_uncond else None
        return self.guidance.combine(x, sig.to(x.device), cond, uncond)


class MaskedDenoiser:
    """Inpainting: outside the mask the latent is held at the original (plus this sigma's noise).

    Before each call the kept region of x is replaced by latent + sigma * noise; after it
    the estimate there is the original latent. mask: 1 = regenerate, 0 = keep.
    """

    def __init__(self, inner, latent: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> None:
        self.inner, self.latent, self.noise, self.mask = inner, latent, noise, mask

    def noised_latent(self, sigma: float | torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=self.latent.dtype, device=self.latent.device).reshape(-1)
        return self.latent + self.noise * s.view(-1, *([1] * (self.latent.ndim - 1)))

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.mask
        x = x * self.mask + self.noised_latent(sigma) * keep
        return self.inner(x, sigma) * self.mask + self.latent * keep
