"""Patches that change how the shared UNet computes (FreeU, attention guidance, tiling, ...),
applied only while one MODEL value samples.

A MODEL value carries a tuple of `UNetPatch`es next to its weight patches. While that value
samples, `DiffusionModel.patched()` enters each patch's `applied(unet)` context in order;
leaving it must put the UNet back exactly as it was, so other values sharing the UNet never
see the patch. A patch that swaps attention processors or wraps a block's forward therefore
wraps what is there (another patch's processor included) and restores it afterwards.

Patches that depend on where sampling is (a start/end percent, the current sigma) read the
call in progress with `current_step()`: the denoiser publishes each UNet call's sigmas for
the duration of that call, so nothing about a step is stored on a long-lived object.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator, Optional, Protocol, Sequence

import torch


class UNetPatch(Protocol):
    """Something that changes the UNet's computation while a context is open."""

    name: str

    def applied(self, unet: torch.nn.Module) -> contextlib.AbstractContextManager: ...


@dataclass(frozen=True)
class StepState:
    """The UNet call in progress: the sigma of each row, and the model's training sigmas
    (ascending) so percents of the schedule can be turned into sigmas."""

    sigma: torch.Tensor  # [B] on the CPU
    model_sigmas: torch.Tensor
    cond_or_uncond: tuple[int, ...] = ()  # 0 = positive, 1 = negative, per chunk of the batch

    @property
    def sigma_max(self) -> float:
        return float(self.sigma.max())


_STEP: contextvars.ContextVar[Optional[StepState]] = contextvars.ContextVar("unet_step", default=None)


def current_step() -> Optional[StepState]:
    """The UNet call in progress (None outside a sampler's call)."""
    return _STEP.get()


@contextlib.contextmanager
def step(state: StepState) -> Iterator[None]:
    """Publish `state` for the duration of one UNet call."""
    token = _STEP.set(state)
    try:
        yield
    finally:
        _STEP.reset(token)


@contextlib.contextmanager
def applied(unet: torch.nn.Module, patches: Sequence[UNetPatch]) -> Iterator[None]:
    """Enter every patch's context in order (later ones wrap earlier ones); all are left,
    in reverse, however the block ends."""
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch.applied(unet))
        yield
