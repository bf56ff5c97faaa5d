"""Device and dtype choice for the diffusion core.

One place decides where models run, so loaders, nodes and the CLI agree. The
environment variable SD_STUDIO_DEVICE (e.g. "cpu", "cuda", "cuda:1") overrides the
automatic choice, which is handy for tests and for machines with a broken GPU setup.
"""
from __future__ import annotations

import os
from typing import Optional

import torch

DEVICE_ENV = "SD_STUDIO_DEVICE"


def default_device() -> torch.device:
    """The device models load to: $SD_STUDIO_DEVICE, else CUDA when available, else CPU."""
    override = os.environ.get(DEVICE_ENV, "").strip()
    if override:
        try:
            return torch.device(override)
        except RuntimeError as exc:
            raise ValueError(f"{DEVICE_ENV}={override!r} is not a valid torch device") from exc
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def default_dtype(device: Optional[torch.device] = None) -> torch.dtype:
    """Weights dtype for a device: bf16 on CUDA when supported (no fp16 overflow in the
    SDXL VAE), else fp16 on CUDA; float32 on the CPU (half precision is slow there)."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    return torch.float32
