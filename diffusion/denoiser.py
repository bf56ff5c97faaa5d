"""Turn a UNet (eps or v prediction) into a denoiser D(x, sigma) with classifier-free guidance.

Samplers only see D(x, sigma) -> estimate of the clean latent, in k-diffusion's sigma
form (x = x0 + sigma * eps). Here live the input scaling, the sigma -> timestep map,
the eps/v output conversion, CFG, and the batching of all conditionings into as few
UNet calls as possible. ``MaskedDenoiser`` adds ComfyUI's inpainting behaviour on top.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from diffusion.schedules import model_sigmas, sigma_to_t
from diffusion.types import Conditioning, PredictionType, UNetLike

MAX_REPEAT = 4  # like ComfyUI: contexts are repeated to a common length at most 4x


@dataclass(frozen=True)
class CondEntry:
    """One conditioning: context [b,T,D], optional pooled [b,P], weight in the average."""

    context: torch.Tensor
    pooled: Optional[torch.Tensor]
    strength: float = 1.0


def parse_conditioning(cond: Conditioning) -> list[CondEntry]:
    """ComfyUI's [[embedding, extras], ...] into entries (extras: pooled_output, strength)."""
    out = []
    for item in cond or []:
        emb, extras = item[0], (item[1] if len(item) > 1 and item[1] is not None else {})
        if emb.ndim == 2:
            emb = emb.unsqueeze(0)
        pooled = extras.get("pooled_output")
        if pooled is not None and pooled.ndim == 1:
            pooled = pooled.unsqueeze(0)
        out.append(CondEntry(emb, pooled, float(extras.get("strength", 1.0))))
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
            lengths = [entries[j].context.shape[1] for j in g] + [e.context.shape[1]]
            if math.lcm(*lengths) // min(lengths) <= MAX_REPEAT:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


class ModelDenoiser:
    """D(x, sigma) = uncond + (cond - uncond) * cfg, from one UNet call per group of conds."""

    def __init__(self, model: UNetLike, positive: Conditioning, negative: Conditioning, cfg: float) -> None:
        self.model = model
        self.cfg = float(cfg)
        self.positive = parse_conditioning(positive)
        self.negative = parse_conditioning(negative)
        if not self.positive:
            raise ValueError("positive conditioning is empty")
        self.sigmas = model_sigmas(model.alphas_cumprod)
        self.v_prediction = PredictionType(model.prediction_type) == PredictionType.V_PREDICTION
        # cfg 1 makes the uncond term cancel; an empty negative has nothing to guide with
        self.use_uncond = bool(self.negative) and not math.isclose(self.cfg, 1.0)
        self.unet_calls = 0

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Training timestep for each sigma, on the CPU."""
        t = sigma_to_t(sigma.detach().cpu(), self.sigmas)
        # A UNet trained on whole timesteps gets the nearest one, as ComfyUI feeds it:
        # the same seed then gives the same image.
        return t.round() if getattr(self.model, "discrete_timesteps", False) else t

    def _run_group(
        self, x: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor, entries: list[CondEntry]
    ) -> list[torch.Tensor]:
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
        s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        c_in = 1.0 / torch.sqrt(s * s + 1.0)
        x_in = (x * c_in).repeat(n, *([1] * (x.ndim - 1)))
        out = self.model.apply_model(
            x_in, t.repeat(n), torch.cat(contexts), torch.cat(pooled) if pooled else None
        ).to(torch.float32)
        self.unet_calls += 1
        results = []
        for pred in out.chunk(n):
            if self.v_prediction:
                results.append(x * (1.0 / (s * s + 1.0)) - pred * (s * c_in))
            else:
                results.append(x - pred * s)
        return results

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

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        sig = torch.as_tensor(sigma, dtype=torch.float32).detach().cpu().reshape(-1)
        if sig.numel() == 1:
            sig = sig.expand(x.shape[0]).contiguous()
        t = self.timestep(sig).to(x.device)  # sigma -> t on the CPU: no device sync per step
        entries = self.positive + (self.negative if self.use_uncond else [])
        preds = self._predict(x, sig.to(x.device), t, entries)
        n_pos = len(self.positive)
        cond = self._average(preds[:n_pos], self.positive)
        if not self.use_uncond:
            return cond
        uncond = self._average(preds[n_pos:], self.negative)
        return uncond + (cond - uncond) * self.cfg


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
