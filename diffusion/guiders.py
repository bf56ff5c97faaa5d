"""Guiders: how the predictions for several conditionings become one denoised estimate.

KSampler's classifier-free guidance is `CFGGuide`; ComfyUI's GUIDER nodes (BasicGuider,
CFGGuider, DualCFGGuider, PerpNegGuider) are the others. A guider names the conditioning
lists it needs at this step and mixes their predictions; the model's sampling hooks
(diffusion/guidance.py) apply inside the mix as in ComfyUI's cfg_function.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence

import torch

from diffusion.cond_extras import CondEntry, parse_conditioning
from diffusion.guidance import Guidance
from diffusion.types import Conditioning

# predict(lists, kinds[, x]) -> one prediction per list, for the x (or another input) at this step
Predict = Callable[..., list]


class Guide:
    """Base: the parsed conditionings (every list, for the inputs they bring) and the mix."""

    def __init__(self, model: Any, lists: Sequence[Conditioning], cfg: float,
                 positive: Conditioning, negative: Conditioning,
                 names: Sequence[str] = ("positive", "negative")) -> None:
        names = list(names) + ["positive"] * (len(lists) - len(names))
        self.lists = [parse_conditioning(c, name) for c, name in zip(lists, names)]
        if not self.lists or not self.lists[0]:
            raise ValueError("positive conditioning is empty")
        self.guidance = Guidance(model, cfg, positive, negative)

    @property
    def entries(self) -> list[CondEntry]:
        return [e for entries in self.lists for e in entries]

    def __call__(self, predict: Predict, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def with_post(self, fn: Callable[[dict], torch.Tensor]) -> "Guide":
        """A copy whose mix also runs the post-cfg hook `fn` (see Guidance.with_post)."""
        twin = copy.copy(self)
        twin.guidance = self.guidance.with_post(fn)
        return twin


class CFGGuide(Guide):
    """uncond + (cond - uncond) * cfg; at cfg 1 (or with no negative) only the positive runs."""

    def __init__(self, model: Any, positive: Conditioning, negative: Conditioning, cfg: float) -> None:
        super().__init__(model, [positive, negative or []], cfg, positive, negative)
        self.positive, self.negative = self.lists

    @property
    def use_uncond(self) -> bool:
        return self.guidance.needs_uncond(bool(self.negative))

    def __call__(self, predict: Predict, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        def predict_again(index: int, x_in: torch.Tensor) -> torch.Tensor:
            return predict([self.lists[index] or self.positive], [index], x_in)[0]

        if not self.use_uncond:
            (cond,) = predict([self.positive], [0])
            return self.guidance.combine(x, sigma, cond, None, predict_again=predict_again)
        cond, uncond = predict([self.positive, self.negative], [0, 1])
        return self.guidance.combine(x, sigma, cond, uncond, predict_again=predict_again)


class BasicGuide(CFGGuide):
    """The positive conditioning alone (distilled and guidance-embedded models)."""

    def __init__(self, model: Any, positive: Conditioning) -> None:
        super().__init__(model, positive, [], 1.0)


class DualCFGGuide(Guide):
    """Two conditionings against one negative: cond2 is guided from the negative by
    cfg_cond2_negative and cond1 from cond2 by cfg_conds ("regular": the two added;
    "nested": cond1 over cond2 first, then that over the negative)."""

    def __init__(self, model: Any, cond1: Conditioning, cond2: Conditioning, negative: Conditioning,
                 cfg_conds: float, cfg_cond2_negative: float, nested: bool = False) -> None:
        super().__init__(model, [cond1, cond2, negative or []], cfg_conds, cond1, negative,
                         names=("positive", "middle", "negative"))
        self.cfg1, self.cfg2, self.nested = float(cfg_conds), float(cfg_cond2_negative), nested

    def __call__(self, predict: Predict, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cond1, cond2, negative = self.lists
        if self.nested:
            p_neg, p2, p1 = predict([negative or cond2, cond2, cond1], [1, 1, 0])
            text = self.guidance.combine(x, sigma, p1, p2, scale=self.cfg1, pre=False)
            return p_neg + (text - p_neg) * self.cfg2
        keep = self.guidance.keep_uncond_at_cfg1
        skip_negative = not negative or (not keep and math.isclose(self.cfg2, 1.0))
        skip_middle = skip_negative and not keep and math.isclose(self.cfg1, 1.0)
        if skip_middle:
            (p1,) = predict([cond1], [0])
            return self.guidance.combine(x, sigma, p1, None, scale=1.0, pre=False)
        if skip_negative:
            p2, p1 = predict([cond2, cond1], [1, 0])
            p_neg = None
        else:
            p_neg, p2, p1 = predict([negative, cond2, cond1], [1, 1, 0])
        return self.guidance.combine(x, sigma, p2, p_neg, scale=self.cfg2, pre=False) + (p1 - p2) * self.cfg1


def perp_neg(pred_pos: torch.Tensor, pred_neg: torch.Tensor, pred_empty: torch.Tensor,
             neg_scale: float, cfg: float) -> torch.Tensor:
    """Perpendicular negative guidance (Armandpour et al. 2023): only the part of the
    negative direction perpendicular to the positive one is pushed away from. The
    projection is the same for noise and clean-latent predictions, so either may be given."""
    pos = pred_pos - pred_empty
    neg = pred_neg - pred_empty
    perp = neg - ((neg * pos).sum() / torch.norm(pos) ** 2) * pos
    return pred_empty + cfg * (pos - perp * neg_scale)


class PerpNegGuide(Guide):
    """Guidance from an empty prompt towards the positive, minus the negative's part that is
    perpendicular to it (works in noise space, as the paper)."""

    def __init__(self, model: Any, positive: Conditioning, negative: Conditioning, empty: Conditioning,
                 cfg: float, neg_scale: float) -> None:
        super().__init__(model, [positive, negative or [], empty], cfg, positive, negative,
                         names=("positive", "negative", "empty_negative_prompt"))
        self.cfg, self.neg_scale = float(cfg), float(neg_scale)

    def __call__(self, predict: Predict, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        positive, negative, empty = self.lists
        keep = self.guidance.keep_uncond_at_cfg1
        use_negative = bool(negative) and (keep or not math.isclose(self.neg_scale, 0.0))
        use_empty = bool(empty) and (use_negative or keep or not math.isclose(self.cfg, 1.0))
        wanted = [positive] + ([negative] if use_negative else []) + ([empty] if use_empty else [])
        preds = predict(wanted, [0, 1, 1][:len(wanted)])
        p_pos = preds[0]
        p_neg = preds[1] if use_negative else None
        p_empty = preds[-1] if use_empty else None
        p_pos, p_neg, p_empty = self.guidance.run_pre(x, sigma, [p_pos, p_neg, p_empty])[:3]
        if p_empty is None:
            result = p_pos
        elif p_neg is None:
            result = p_empty + (p_pos - p_empty) * self.cfg
        else:
            result = perp_neg(p_pos, p_neg, p_empty, self.neg_scale, self.cfg)
        return self.guidance.run_post(x, sigma, result, p_pos, p_neg if p_neg is not None else p_pos, self.cfg)


def perp_neg_cfg_function(empty: Conditioning, neg_scale: float) -> Callable[[dict], torch.Tensor]:
    """KSampler's Perp-Neg (the PerpNeg model patch): a sampler_cfg_function that also
    predicts the empty prompt, through the model view the hook is given."""
    entry = parse_conditioning(empty)[0]

    def cfg_function(args: dict) -> torch.Tensor:
        x, sigma = args["input"], args["sigma"]
        batch = x.shape[0]
        context = entry.context.to(x.device, torch.float32)
        context = context.repeat(batch // context.shape[0], 1, 1) if context.shape[0] != batch else context
        pooled = None
        if entry.pooled is not None:
            pooled = entry.pooled.to(x.device, torch.float32)
            pooled = pooled.repeat(batch // pooled.shape[0], 1) if pooled.shape[0] != batch else pooled
        empty_pred = args["model"].apply_model(x, sigma, c_crossattn=context, y=pooled)
        guided = perp_neg(args["cond_denoised"], args["uncond_denoised"], empty_pred.to(x), neg_scale,
                          args["cond_scale"])
        return x - guided

    return cfg_function
