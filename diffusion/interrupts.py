"""Stopping long work part-way when the prompt running it is interrupted.

One UNet step at a large size, a tiled decode or a huge resize can run for minutes; the
node running it only gets control back when it returns. So whoever runs a node installs a
check (`interruptible`), and diffusion code calls `raise_if_interrupted()` between the
parts of its work: UNet and VAE blocks (`check_blocks`), tiles, bands of a resize. Where
nothing installed a check (scripts, tests, threads a node starts) the call does nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterable, Iterator, Optional

import torch

StopCheck = Callable[[], bool]

_CHECK: contextvars.ContextVar[Optional[StopCheck]] = contextvars.ContextVar("interrupt_check", default=None)
_is_compiling = torch.compiler.is_compiling

# Sub-module lists of diffusers' UNet/VAE blocks whose entries each get a check too.
_PART_LISTS = frozenset({"resnets", "attentions", "transformer_blocks", "downsamplers", "upsamplers"})
_WATCHED = "_interrupt_checks_installed"


class Interrupted(Exception):
    """The work was stopped because the prompt running it was interrupted."""


@contextlib.contextmanager
def interruptible(check: StopCheck) -> Iterator[None]:
    """Within the block, `raise_if_interrupted()` raises once `check()` is true."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def raise_if_interrupted() -> None:
    """Raise `Interrupted` when the installed check says stop; cheap enough for every block."""
    check = _CHECK.get()
    if check is not None and check():
        raise Interrupted("interrupted")


def _before_forward(module: torch.nn.Module, args: tuple) -> None:
    # A compiled graph cannot stop half-way; tracing skips the check (no graph break).
    if not _is_compiling():
        raise_if_interrupted()


def _watch(module: torch.nn.Module) -> None:
    module.register_forward_pre_hook(_before_forward)


def check_blocks(model: Optional[torch.nn.Module]) -> None:
    """Check before each of `model`'s down/mid/up blocks and each of their layers (resnets,
    attention and transformer blocks, resamplers). Installed once per module (the hooks
    stay: without an installed check they do nothing); a model without such blocks is
    left alone."""
    if not isinstance(model, torch.nn.Module) or getattr(model, _WATCHED, False):
        return
    for block in _blocks(model):
        _watch(block)
        for name, sub in block.named_modules():
            if isinstance(sub, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in _PART_LISTS:
                for part in sub:
                    _watch(part)
    setattr(model, _WATCHED, True)


def _blocks(model: torch.nn.Module) -> Iterable[torch.nn.Module]:
    for name in ("down_blocks", "mid_block", "up_blocks"):
        found = getattr(model, name, None)
        if isinstance(found, torch.nn.ModuleList):
            yield from found
        elif isinstance(found, torch.nn.Module):
            yield found
