"""GPU speed settings: TF32 matmuls and convolutions on Ampere and newer, cuDNN's autotuner for
the fixed shapes of a sampling, and `--compile` (torch.compile of every UNet). Attention is
PyTorch's scaled-dot-product attention already (diffusers' default processor). Nothing here
acts on the CPU, so CPU results never change with it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeedSettings:
    compile: bool = False  # torch.compile each UNet's forward (CUDA only); a shape compiles once


SPEED = SpeedSettings()


def configure(settings: SpeedSettings, device: torch.device) -> None:
    global SPEED
    SPEED = settings
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def unet_patches_for(device: torch.device) -> tuple:
    """The UNet patches a freshly loaded MODEL starts with: the compile patch under --compile
    on a CUDA device where torch.compile can run (a log line says why not otherwise)."""
    if not SPEED.compile:
        return ()
    from .torch_compile import TorchCompilePatch, compile_unavailable

    if torch.device(device).type != "cuda":
        log.info("--compile: models on %s run eagerly (it applies to CUDA devices)", device)
        return ()
    reason = compile_unavailable("inductor", device)
    if reason is not None:
        log.warning("--compile: %s; models run eagerly", reason)
        return ()
    return (TorchCompilePatch("inductor"),)
