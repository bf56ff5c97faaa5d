"""Predictions of the clean latent for lists of conditionings, in as few UNet calls as possible.

A guider asks for one prediction per conditioning list (positive, negative, an empty
prompt, ...). Entries of all lists that fit one UNet call (same context width, pooled
layout and extra model inputs; token counts within MAX_REPEAT of each other) share it.
Entries with areas, masks or timestep ranges are predicted on their region and averaged
per pixel (diffusion/regions.py). ControlNet residuals, an inpainting model's extra input
channels and the family-specific inputs (SDXL sizes, unCLIP embeddings) are added here.

Everything about the step in progress travels in a `Step` value passed down the calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from diffusion.cond_extras import CondEntry
from diffusion.regions import NEVER, Region, region_for

MAX_REPEAT = 4  # like ComfyUI: contexts are repeated to a common length at most 4x


@dataclass(frozen=True)
class Step:
    """One denoiser call: the sigma per row (on the CPU and on the latent's device), the UNet
    timestep per row, and the full latent's size (areas and ControlNet hints refer to it)."""

    sigma_cpu: torch.Tensor
    sigma: torch.Tensor
    timestep: torch.Tensor
    latent_size: tuple[int, int]

    @property
    def now(self) -> float:
        return float(self.sigma_cpu.max())


def to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    """Share a [1,...] (or [k,...], k dividing batch) conditioning across the latent batch."""
    if t.shape[0] == batch:
        return t
    if batch % t.shape[0] == 0:
        return t.repeat(batch // t.shape[0], *([1] * (t.ndim - 1)))
    raise ValueError(f"conditioning batch {t.shape[0]} does not divide latent batch {batch}")


def resize_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    """`batch` rows picked evenly from t's (ComfyUI's rule: 2 rows for 4 give 0, 0, 1, 1)."""
    have = t.shape[0]
    if have == batch:
        return t
    if batch <= 1:
        return t[:batch]
    if have == 1:
        return t.expand(batch, *t.shape[1:]).contiguous()
    if batch < have:
        scale = (have - 1) / (batch - 1)
        rows = [min(round(i * scale), have - 1) for i in range(batch)]
    else:
        scale = have / batch
        rows = [min(math.floor((i + 0.5) * scale), have - 1) for i in range(batch)]
    return t[rows]


class PerEntryInput:
    """An extra UNet input built once per conditioning entry for a whole sampling (an
    inpainting model's mask and image, the x4 upscaler's low-resolution image)."""

    def __init__(self) -> None:
        self._cache: dict[int, torch.Tensor] = {}

    def __call__(self, entry: CondEntry) -> torch.Tensor:
        found = self._cache.get(id(entry))
        if found is None:
            found = self._cache[id(entry)] = self._build(entry)
        return found

    def _build(self, entry: CondEntry) -> torch.Tensor:
        raise NotImplementedError


def _pooled_key(e: CondEntry) -> Optional[int]:
    return None if e.pooled is None else int(e.pooled.shape[-1])


def group_entries(entries: Sequence[CondEntry]) -> list[list[int]]:
    """Indices of entries that can share one UNet call (repeating keys leaves cross-attention
    unchanged, so token counts may differ by up to MAX_REPEAT x)."""
    groups: list[list[int]] = []
    for i, e in enumerate(entries):
        for g in groups:
            first = entries[g[0]]
            if first.context.shape[-1] != e.context.shape[-1] or _pooled_key(first) != _pooled_key(e):
                continue
            if first.model_inputs_key != e.model_inputs_key:
                continue
            lengths = [entries[j].context.shape[1] for j in g] + [e.context.shape[1]]
            if math.lcm(*lengths) // min(lengths) <= MAX_REPEAT:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def average(preds: list[torch.Tensor], entries: Sequence[CondEntry]) -> torch.Tensor:
    """The strength-weighted mean of one list's predictions."""
    if len(preds) == 1:
        return preds[0]
    total = sum(e.strength for e in entries)
    if total == 0:
        raise ValueError("conditioning strengths sum to zero")
    return sum(p * (e.strength / total) for p, e in zip(preds, entries))  # type: ignore[return-value]


def size_inputs(entry: CondEntry, latent_size: tuple[int, int]) -> dict:
    """An entry's SDXL size conditioning with ComfyUI's defaults filled in: the full latent's
    size in pixels (not a region's), and the guider's name for the entry's list."""
    height, width = latent_size
    return {"height": height * 8, "width": width * 8, **(entry.size or {}), "prompt_type": entry.prompt_type}


def _hint_pixels(image: torch.Tensor, height: int, width: int, batch: int, window) -> torch.Tensor:
    """The hint image at height x width pixels for `batch` rows, cut to a region's window
    (in latent pixels) when the call runs on one."""
    from diffusion.controlnet import hint_for

    pixels = hint_for(image, height, width, batch)
    if window is not None:
        ys, xs = window
        pixels = pixels[..., ys.start * 8:ys.stop * 8, xs.start * 8:xs.stop * 8]
    return pixels


class ConditionPredictor:
    """Runs the model for conditioning lists; `unet_call(x, sigma, c, kinds, step)` is the
    one UNet evaluation in sigma form (the denoiser's, through the model's wrapper)."""

    def __init__(self, unet_call: Callable[..., torch.Tensor], percent_to_sigma: Callable[[float], float],
                 concat: Optional[Callable[[CondEntry], torch.Tensor]] = None) -> None:
        self.unet_call = unet_call
        self.percent_to_sigma = percent_to_sigma
        self.concat = concat
        self.unet_calls = 0
        self._ranges: dict[int, tuple[float, float]] = {}
        self._regions: dict[tuple, Region] = {}
        self._features: dict[tuple, list] = {}  # T2I-Adapter features, once per sampling

    def predict(self, x: torch.Tensor, step_: Step, lists: Sequence[Sequence[CondEntry]],
                kinds: Sequence[int]) -> list[torch.Tensor]:
        """One averaged prediction per conditioning list; `kinds` labels each list for hooks
        (0 = positive, 1 = negative, as ComfyUI's cond_or_uncond)."""
        if any(e.is_regional for entries in lists for e in entries):
            return [self._regional(x, step_, entries, kind) for entries, kind in zip(lists, kinds)]
        flat = [e for entries in lists for e in entries]
        flat_kinds = [kind for entries, kind in zip(lists, kinds) for _ in entries]
        preds: list[Optional[torch.Tensor]] = [None] * len(flat)
        for group in group_entries(flat):
            outs = self._run_group(x, step_, [flat[i] for i in group], [flat_kinds[i] for i in group])
            for i, p in zip(group, outs):
                preds[i] = p
        out, start = [], 0
        for entries in lists:
            out.append(average(preds[start:start + len(entries)], entries))  # type: ignore[arg-type]
            start += len(entries)
        return out

    # -- one UNet call ------------------------------------------------------------------

    def _run_group(self, x: torch.Tensor, step_: Step, entries: list[CondEntry], kinds: list[int],
                   window: Optional[tuple[slice, slice]] = None) -> list[torch.Tensor]:
        """Denoised estimates of x, one per entry, from one UNet call."""
        batch, dev = x.shape[0], x.device
        length = math.lcm(*[e.context.shape[1] for e in entries])
        contexts, pooled = [], []
        for e in entries:
            ctx = to_batch(e.context.to(dev, torch.float32), batch)
            contexts.append(ctx.repeat(1, length // ctx.shape[1], 1))
            if e.pooled is not None:
                pooled.append(to_batch(e.pooled.to(dev, torch.float32), batch))
        n = len(entries)
        c: dict[str, Any] = {"c_crossattn": torch.cat(contexts), "y": torch.cat(pooled) if pooled else None}
        if self.concat is not None:
            extras = []
            for e in entries:
                extra = to_batch(self.concat(e).to(dev), batch)
                extras.append(extra[..., window[0], window[1]] if window is not None else extra)
            c["c_concat"] = torch.cat(extras)
        first = entries[0]
        if first.control is not None:
            control = self._control(first.control, x, step_, n, window)
            if control:
                c["control"] = control
        c["size_cond"] = [size_inputs(e, step_.latent_size) for e in entries]
        if first.noise_augmentation:
            c["noise_augmentation"] = first.noise_augmentation
        if first.unclip is not None:
            c["unclip"] = first.unclip
        if first.gligen is not None:
            c["gligen"] = first.gligen
        x_in = x.repeat(n, *([1] * (x.ndim - 1)))
        out = self.unet_call(x_in, step_.sigma.repeat(n), c, kinds, step_.timestep.repeat(n))
        self.unet_calls += 1
        return list(out.to(torch.float32).chunk(n))

    def _control(self, hint: Any, x: torch.Tensor, step_: Step, n: int, window) -> list:
        """(ControlNet, hint pixels, strength) of the chain's links active at this sigma."""
        full_h, full_w = step_.latent_size
        out = []
        for link in hint.chain():
            start = self.percent_to_sigma(link.start_percent)
            end = self.percent_to_sigma(link.end_percent)
            if not end <= step_.now <= start or link.strength == 0.0:
                continue
            if getattr(link.control_net, "is_adapter", False):
                out.append((link.control_net, self._adapter_features(link, x.shape[0], step_, n, window), link.strength))
                continue
            pixels = _hint_pixels(link.image, full_h * 8, full_w * 8, x.shape[0], window)
            out.append((link.control_net, pixels.repeat(n, 1, 1, 1), link.strength))
        return out

    def _adapter_features(self, link: Any, batch: int, step_: Step, n: int, window) -> list:
        """A T2I-Adapter's (input block, feature) pairs for this call's rows: computed once per
        sampling from the hint (at the latent's size rounded up to the adapter's cells)."""
        key = (id(link), batch, n, None if window is None else (window[0].start, window[0].stop,
                                                                window[1].start, window[1].stop))
        found = self._features.get(key)
        if found is None:
            net = link.control_net
            height, width = net.hint_size(step_.latent_size[0] * 8, step_.latent_size[1] * 8)
            pixels = _hint_pixels(link.image, height, width, batch, window)
            found = self._features[key] = [(block, f.repeat(n, 1, 1, 1)) for block, f in net.features(pixels)]
        return found

    # -- areas, masks and timestep ranges ------------------------------------------------

    def _active(self, entry: CondEntry, sigma: float) -> bool:
        found = self._ranges.get(id(entry))
        if found is None:
            found = self._ranges[id(entry)] = (self.percent_to_sigma(entry.start_percent),
                                               self.percent_to_sigma(entry.end_percent))
        start, end = found
        return end <= sigma <= start

    def _regional(self, x: torch.Tensor, step_: Step, entries: Sequence[CondEntry], kind: int) -> torch.Tensor:
        """Per-pixel weighted average of each active entry's prediction on its region."""
        height, width = x.shape[-2:]
        out = torch.zeros_like(x)
        weights = torch.full_like(x[:, :1], NEVER)
        by_area: dict[tuple, list[tuple[CondEntry, Region]]] = {}
        for e in entries:
            if not self._active(e, step_.now):
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
                preds = self._run_group(crop, step_, [group_in[i] for i in group], [kind] * len(group), (ys, xs))
                for i, pred in zip(group, preds):
                    weight = to_batch(members[i][1].weight.to(x.device), x.shape[0])
                    out[..., ys, xs] += pred * weight
                    weights[..., ys, xs] += weight
        return out / weights
