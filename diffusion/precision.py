"""Weight precision per model kind, as ComfyUI's precision flags choose it.

`--force-fp32` / `--force-fp16` set every model; `--bf16-unet`, `--fp16-unet`,
`--fp8_e4m3fn-unet`, `--fp8_e5m2-unet` the UNet; `--fp16-vae`, `--bf16-vae`, `--fp32-vae`
the VAE, and `--cpu-vae` runs it on the CPU. Without a flag a model gets the device's
default (float32 on the CPU, bf16 or fp16 on a GPU). fp8 is a storage format: such a
UNet keeps its weights in fp8 and each layer computes with them upcast to the device's
default for its forward, so it takes half the memory of fp16 at some cost in speed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .device import default_dtype

FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)


@dataclass(frozen=True)
class Precision:
    unet: Optional[torch.dtype] = None
    vae: Optional[torch.dtype] = None
    text_encoder: Optional[torch.dtype] = None
    cpu_vae: bool = False


PRECISION = Precision()


def configure(precision: Precision) -> None:
    global PRECISION
    PRECISION = precision


def weights_dtype(kind: str, device: torch.device, explicit: Optional[torch.dtype] = None) -> torch.dtype:
    """A loader's weight dtype for a model kind ("unet", "vae", "text_encoder"): the caller's,
    else the flags', else the device's default."""
    if explicit is not None:
        return explicit
    return getattr(PRECISION, kind) or default_dtype(device)


def compute_dtype(weights: torch.dtype, device: torch.device) -> torch.dtype:
    """What a model computes in: its weights' dtype, or the device's default for fp8 storage."""
    return default_dtype(device) if weights in FP8 else weights


def vae_device(device: torch.device) -> torch.device:
    return torch.device("cpu") if PRECISION.cpu_vae else torch.device(device)


def upcast_per_layer(module: nn.Module, dtype: torch.dtype) -> None:
    """Hooks that give each layer its fp8 weights in `dtype` for its forward, and the stored
    ones back after (unless something else, a streaming hook, has already put its own back)."""
    for layer in module.modules():
        params = [p for p in layer.parameters(recurse=False) if p.dtype in FP8]
        if params:
            _hook(layer, params, dtype)


def _hook(layer: nn.Module, params: list, dtype: torch.dtype) -> None:
    held: list = []

    def cast(_module, _args):
        held.clear()
        for param in params:
            stored = param.data
            param.data = stored.to(dtype)
            held.append((param, stored, param.data))

    def restore(_module, _args, _output):
        for param, stored, casted in held:
            now = param.data  # a new view each time: compare what it points at
            if now.dtype == casted.dtype and now.data_ptr() == casted.data_ptr():
                param.data = stored
        held.clear()

    layer.register_forward_pre_hook(cast)
    layer.register_forward_hook(restore, always_call=True)  # also after an error (out of memory) in the layer
