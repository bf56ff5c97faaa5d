"""Small helpers the training stages share: logging, the learning-rate schedule, bf16."""
from __future__ import annotations

import math
import time

import torch


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    """Linear warmup to `peak`, then a cosine down to `floor` times the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def autocast_dtype(device: torch.device, bf16: bool = True) -> torch.dtype | None:
    """bf16 where the hardware has it (CUDA, or a CPU with oneDNN), else full precision."""
    if device.type == "cuda":
        return torch.bfloat16
    return torch.bfloat16 if bf16 and torch.backends.mkldnn.is_available() else None


@torch.no_grad()
def encode_images(vae: torch.nn.Module, images: torch.Tensor, device: torch.device,
                  dtype: torch.dtype | None) -> torch.Tensor:
    """Posterior means [B,4,h,w] (float32, CPU, unscaled) of images [B,3,H,W] in [-1, 1].

    Channels-last: on a CPU that encodes about 1.6x faster than the default layout (the
    VAE's own layout is left as it was)."""
    vae.to(memory_format=torch.channels_last)
    try:
        pixels = images.to(device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            mean = vae.encode(pixels).latent_dist.mean
        return mean.float().cpu().contiguous()
    finally:
        vae.to(memory_format=torch.contiguous_format)
