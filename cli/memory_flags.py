"""ComfyUI's memory flags (--gpu-only, --highvram, --normalvram, --lowvram, --novram, --cpu,
--reserve-vram, --disable-smart-memory) for `serve` and `run`, handed to the model manager."""
from __future__ import annotations

import argparse
import os

from diffusion.memory_manager import MemorySettings, VRAMPolicy

GIB = 1024 ** 3
POLICY_FLAGS = {
    "gpu_only": "keep every model on the GPU (never offload to CPU memory)",
    "highvram": "keep models on the GPU once loaded",
    "normalvram": "load what fits, move idle models back to CPU memory, stream a model too big (the default)",
    "lowvram": "give model weights half the free GPU memory; stream the rest",
    "novram": "stream every model layer by layer (for the smallest cards)",
    "cpu": "run everything on the CPU",
}


def add_memory_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("GPU memory")
    policies = group.add_mutually_exclusive_group()
    for name, text in POLICY_FLAGS.items():
        policies.add_argument("--" + name.replace("_", "-"), dest="vram_policy", action="store_const",
                              const=VRAMPolicy(name), help=text)
    group.add_argument("--reserve-vram", type=float, default=None, metavar="GB",
                       help="GPU memory left free for other programs and activations (default 0)")
    group.add_argument("--disable-smart-memory", action="store_true",
                       help="move each model back to CPU memory as soon as it has run")


def memory_settings(args: argparse.Namespace) -> MemorySettings:
    reserve = getattr(args, "reserve_vram", None)
    if reserve is not None and reserve < 0:
        raise SystemExit("--reserve-vram must not be negative")
    return MemorySettings(policy=getattr(args, "vram_policy", None) or VRAMPolicy.NORMAL,
                          reserve_bytes=int((reserve or 0) * GIB),
                          smart_memory=not getattr(args, "disable_smart_memory", False))


def apply_memory_flags(args: argparse.Namespace) -> MemorySettings:
    """Configure the app's model manager (and what packs read in comfy.cli_args) from the flags."""
    from diffusion.device import DEVICE_ENV, default_device
    from diffusion.memory_manager import MANAGER

    settings = memory_settings(args)
    if settings.policy == VRAMPolicy.CPU:
        os.environ[DEVICE_ENV] = "cpu"  # loaders and nodes pick the CPU too
    MANAGER.configure(default_device(), settings)
    from comfy_compat.surface.comfy import cli_args

    reserve_gb = settings.reserve_bytes / GIB if settings.reserve_bytes else None
    cli_args.use_memory_settings(settings.policy.value, reserve_gb, not settings.smart_memory)
    return settings
