"""Classifier-free guidance and the sampling hooks a MODEL value may carry.

Plain CFG is `uncond + (cond - uncond) * cfg`. A MODEL's model_options (ComfyUI's shape)
may replace or extend that: `sampler_pre_cfg_function`s see both predictions first,
`sampler_cfg_function` replaces the mix (in noise space, as in ComfyUI),
`sampler_post_cfg_function`s see the result, and `model_function_wrapper` wraps each
UNet call. Options this sampler cannot apply stop sampling with their names.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Optional

import torch


class UnsupportedModelPatch(NotImplementedError):
    """A MODEL carries patches (from a custom node) this sampler cannot apply."""


class Guidance:
    def __init__(self, model: Any, cfg: float, positive: Any, negative: Any) -> None:
        self.cfg = float(cfg)
        options = getattr(model, "model_options", None) or {}
        unsupported = model.unsupported_options() if hasattr(model, "unsupported_options") else []
        if unsupported:
            raise UnsupportedModelPatch(
                "this model carries patches set by a custom node that sampling here cannot apply: "
                + ", ".join(unsupported))
        self.options = options
        self.pre = list(options.get("sampler_pre_cfg_function", []))
        self.cfg_function: Optional[Callable] = options.get("sampler_cfg_function")
        self.post = list(options.get("sampler_post_cfg_function", []))
        self.wrapper: Optional[Callable] = options.get("model_function_wrapper")
        self.keep_uncond_at_cfg1 = bool(options.get("disable_cfg1_optimization", False))
        self.model_view = getattr(model, "model", None) if options else None
        self.positive, self.negative = positive, negative

    def with_post(self, fn: Callable[[dict], torch.Tensor]) -> "Guidance":
        """A copy that also runs `fn` after the mix and always predicts the negative
        (a sampler that needs the unconditional prediction itself)."""
        twin = copy.copy(self)
        twin.post = self.post + [fn]
        twin.keep_uncond_at_cfg1 = True
        return twin

    def needs_uncond(self, has_negative: bool) -> bool:
        """cfg 1 makes the uncond term cancel (unless a hook wants it); no negative, nothing to guide with."""
        return has_negative and (not math.isclose(self.cfg, 1.0) or self.keep_uncond_at_cfg1)

    def combine(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor,
                uncond: Optional[torch.Tensor], scale: Optional[float] = None, pre: bool = True,
                predict_again: Optional[Callable[[int, torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        """The guided estimate of the clean latent from the two predictions (`scale` instead
        of the cfg for guiders that mix several; `pre=False` skips the pre-cfg hooks, which
        such guiders run themselves once). `predict_again(0 or 1, x)` predicts the positive
        or negative again for another input, for post-cfg hooks that need it (PAG, SAG)."""
        if uncond is None:
            uncond = cond
        cfg = self.cfg if scale is None else float(scale)
        if pre:
            cond, uncond = self.run_pre(x, sigma, [cond, uncond])[:2]
        if self.cfg_function is not None:
            result = x - self.cfg_function({
                "cond": x - cond, "uncond": x - uncond, "cond_scale": cfg, "timestep": sigma, "input": x,
                "sigma": sigma, "cond_denoised": cond, "uncond_denoised": uncond, "model": self.model_view,
                "model_options": self.options, "input_cond": None, "input_uncond": None})
        else:
            result = uncond + (cond - uncond) * cfg
        return self.run_post(x, sigma, result, cond, uncond, cfg, predict_again)

    def run_pre(self, x: torch.Tensor, sigma: torch.Tensor, outs: list) -> list:
        """The pre-cfg hooks over every list's prediction."""
        for fn in self.pre:
            outs = fn({"conds": [self.positive, self.negative], "conds_out": outs, "cond_scale": self.cfg,
                       "timestep": sigma, "input": x, "sigma": sigma, "model": self.model_view,
                       "model_options": self.options})
        return list(outs)

    def run_post(self, x: torch.Tensor, sigma: torch.Tensor, result: torch.Tensor, cond: torch.Tensor,
                 uncond: torch.Tensor, cfg: Optional[float] = None,
                 predict_again: Optional[Callable[[int, torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        """The post-cfg hooks over the guided result."""
        for fn in self.post:
            result = fn({"denoised": result, "cond": self.positive, "uncond": self.negative, "model": self.model_view,
                         "uncond_denoised": uncond, "cond_denoised": cond, "sigma": sigma,
                         "cond_scale": self.cfg if cfg is None else cfg, "model_options": self.options, "input": x,
                         "predict_again": predict_again})
        return result

    def call(self, apply: Callable[..., torch.Tensor], x: torch.Tensor, sigma: torch.Tensor, c: dict,
             cond_or_uncond: list[int]) -> torch.Tensor:
        """One UNet call (through the model's wrapper when it has one)."""
        if self.wrapper is None:
            return apply(x, sigma, **c)
        return self.wrapper(apply, {"input": x, "timestep": sigma, "c": c, "cond_or_uncond": cond_or_uncond})
