"""Weight patches (LoRA deltas) applied to shared modules only while they run.

A MODEL or CLIP value with patches shares its modules with the unpatched one: the
loader's tensors are never written to. While a patched value runs (a sampling loop, a
prompt encoding), each patched parameter's `.data` is pointed at a freshly computed
`base + delta` tensor, and afterwards back at the very same base tensor, so removing or
changing a LoRA restores the base weights exactly and costs no copy of the base model.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch


@dataclass(frozen=True)
class WeightPatch:
    """A low-rank delta `strength * scale * up @ down` for one parameter of one module.

    component: which module it belongs to ("unet", or a text encoder's name "l"/"h"/"g");
    target: the parameter's name inside that module (e.g. "...attn1.to_q.weight")."""

    component: str
    target: str
    up: torch.Tensor  # [out, rank] or [out, rank, 1, 1]
    down: torch.Tensor  # [rank, in] or [rank, in, kh, kw]
    scale: float  # alpha / rank
    strength: float

    def delta(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """The float32 delta, reshaped to the weight (a 1x1 conv and a linear layer agree)."""
        up = self.up.to(device, torch.float32).flatten(1)
        down = self.down.to(device, torch.float32).flatten(1)
        return (up @ down).reshape(shape) * (self.scale * self.strength)

    def apply(self, total: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return total + self.delta(base.shape, base.device)

    def fits(self, param: torch.Tensor) -> bool:
        return self.up.shape[0] * self.down[0].numel() == param.numel()


@dataclass(frozen=True)
class DiffPatch:
    """`weight * strength_model + strength * tensor` for one parameter: a full-size
    difference, or with strength_model 0 a replacement (model merging is built of these)."""

    component: str
    target: str
    tensor: torch.Tensor
    strength: float
    strength_model: float = 1.0

    def apply(self, total: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        if self.strength_model != 1.0:
            total = total * self.strength_model
        return total + self.tensor.to(base.device, torch.float32).reshape(base.shape) * self.strength

    def fits(self, param: torch.Tensor) -> bool:
        return self.tensor.numel() == param.numel()


@dataclass(frozen=True)
class ScalePatch:
    """`weight * factor` (what a LoRA added with strength_model != 1 does to the base)."""

    component: str
    target: str
    factor: float

    def apply(self, total: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return total * self.factor

    def fits(self, param: torch.Tensor) -> bool:
        return True


def _parameters(module: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return dict(module.named_parameters())


@contextlib.contextmanager
def patched(module: torch.nn.Module, patches: Sequence[WeightPatch]) -> Iterator[None]:
    """Run `module` with `patches` added to its weights; the base tensors come back untouched."""
    if not patches:
        yield
        return
    by_target: dict[str, list[WeightPatch]] = defaultdict(list)
    for patch in patches:
        by_target[patch.target].append(patch)
    params = _parameters(module)
    originals: dict[str, torch.Tensor] = {}
    try:
        with torch.no_grad():
            for target, group in by_target.items():
                param = params.get(target)
                if param is None:
                    raise KeyError(f"weight patch target {target!r} is not a parameter of the model")
                base = param.data
                total = base.to(torch.float32)
                for patch in group:
                    total = patch.apply(total, base)
                originals[target] = base
                param.data = total.to(base.dtype)
        yield
    finally:
        for target, base in originals.items():
            params[target].data = base


def check_targets(module: torch.nn.Module, patches: Sequence[WeightPatch]) -> None:
    """Fail early (at load time) for a patch whose weight does not exist or has another size."""
    params = _parameters(module)
    for patch in patches:
        param = params.get(patch.target)
        if param is None:
            raise KeyError(f"weight patch target {patch.target!r} is not a parameter of the model")
        if not patch.fits(param):
            raise ValueError(f"patch for {patch.target} does not fit weight {tuple(param.shape)}")
