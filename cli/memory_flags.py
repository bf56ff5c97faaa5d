"""ComfyUI's memory flags (--gpu-only, --highvram, --normalvram, --lowvram, --novram, --cpu,
--reserve-vram, --disable-smart-memory) and precision flags (--force-fp16/32, --bf16-unet,
--fp16-unet, --fp8_e4m3fn-unet, --fp8_e5m2-unet, --fp16-vae, --bf16-vae, --fp32-vae,
--cpu-vae) for `serve` and `run`, handed to the model manager and the loaders."""
from __future__ import annotations

import argparse
import os

import torch

from diffusion import precision, speed
from diffusion.memory_manager import DEFAULT_RESERVE, MemorySettings, VRAMPolicy
from diffusion.precision import Precision
from diffusion.speed import SpeedSettings

GIB = 1024 ** 3
UNET_FLAGS = {"--bf16-unet": torch.bfloat16, "--fp16-unet": torch.float16,
              "--fp8_e4m3fn-unet": torch.float8_e4m3fn, "--fp8_e5m2-unet": torch.float8_e5m2}
VAE_FLAGS = {"--fp16-vae": torch.float16, "--bf16-vae": torch.bfloat16, "--fp32-vae": torch.float32}
POLICY_FLAGS = {
    "gpu_only": "keep every model on the GPU (never offload to CPU memory)",
    "highvram": "keep models on the GPU once loaded",
    "normalvram": "load what fits, move idle models back to CPU memory, stream a model too big (the default)",
    "lowvram": "give model weights half the free GPU memory; stream the rest",
    "novram": "stream every model layer by layer (for the smallest cards)",
    "cpu": "run everything on the CPU",
}


def add_memory_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("GPU memory and precision")
    policies = group.add_mutually_exclusive_group()
    for name, text in POLICY_FLAGS.items():
        policies.add_argument("--" + name.replace("_", "-"), dest="vram_policy", action="store_const",
                              const=VRAMPolicy(name), help=text)
    group.add_argument("--reserve-vram", type=float, default=None, metavar="GB",
                       help="GPU memory left free for other programs and activations (default 1)")
    group.add_argument("--disable-smart-memory", action="store_true",
                       help="move each model back to CPU memory as soon as it has run")
    every = group.add_mutually_exclusive_group()
    every.add_argument("--force-fp32", action="store_true", help="every model in float32")
    every.add_argument("--force-fp16", action="store_true", help="every model in float16")
    unet = group.add_mutually_exclusive_group()
    for flag, dtype in UNET_FLAGS.items():
        unet.add_argument(flag, dest="unet_dtype", action="store_const", const=dtype,
                          help=f"UNet weights in {str(dtype).removeprefix('torch.')}"
                               + (" (stored; each layer computes upcast)" if "fp8" in flag else ""))
    vae = group.add_mutually_exclusive_group()
    for flag, dtype in VAE_FLAGS.items():
        vae.add_argument(flag, dest="vae_dtype", action="store_const", const=dtype,
                         help=f"VAE in {str(dtype).removeprefix('torch.')}")
    group.add_argument("--cpu-vae", action="store_true", help="run the VAE on the CPU")
    group.add_argument("--compile", action="store_true",
                       help="torch.compile every UNet on the GPU (the first prompt of each size compiles)")


def precision_settings(args: argparse.Namespace) -> Precision:
    every = torch.float32 if getattr(args, "force_fp32", False) else (
        torch.float16 if getattr(args, "force_fp16", False) else None)
    return Precision(unet=getattr(args, "unet_dtype", None) or every, vae=getattr(args, "vae_dtype", None) or every,
                     text_encoder=every, cpu_vae=bool(getattr(args, "cpu_vae", False)))


def memory_settings(args: argparse.Namespace) -> MemorySettings:
    reserve = getattr(args, "reserve_vram", None)
    if reserve is not None and reserve < 0:
        raise SystemExit("--reserve-vram must not be negative")
    return MemorySettings(policy=getattr(args, "vram_policy", None) or VRAMPolicy.NORMAL,
                          reserve_bytes=DEFAULT_RESERVE if reserve is None else int(reserve * GIB),
                          smart_memory=not getattr(args, "disable_smart_memory", False))


def apply_memory_flags(args: argparse.Namespace) -> MemorySettings:
    """Configure the app's model manager (and what packs read in comfy.cli_args) from the flags."""
    from diffusion.device import DEVICE_ENV, default_device
    from diffusion.memory_manager import MANAGER

    settings = memory_settings(args)
    if settings.policy == VRAMPolicy.CPU:
        os.environ[DEVICE_ENV] = "cpu"  # loaders and nodes pick the CPU too
    MANAGER.configure(default_device(), settings)
    precision.configure(precision_settings(args))
    speed.configure(SpeedSettings(compile=bool(getattr(args, "compile", False))), MANAGER.device)
    from comfy_compat import install_surface

    install_surface()  # the flags as packs read them: comfy.cli_args, comfy.model_management
    from comfy import cli_args, model_management

    reserve_gb = settings.reserve_bytes / GIB if settings.reserve_bytes else None
    cli_args.use_memory_settings(settings.policy.value, reserve_gb, not settings.smart_memory)
    model_management.use_memory_policy(settings.policy.value, not settings.smart_memory)
    for name in ("force_fp32", "force_fp16", "cpu_vae"):
        setattr(cli_args.args, name, bool(getattr(args, name, False)))
    for table, chosen in ((UNET_FLAGS, getattr(args, "unet_dtype", None)), (VAE_FLAGS, getattr(args, "vae_dtype", None))):
        for flag, dtype in table.items():
            setattr(cli_args.args, flag.lstrip("-").replace("-", "_"), chosen == dtype)
    return settings


def memory_argv(args: argparse.Namespace) -> list[str]:
    """The memory and precision flags of `args`, written out again (for worker processes)."""
    argv = []
    policy = getattr(args, "vram_policy", None)
    if policy is not None:
        argv.append("--" + VRAMPolicy(policy).value.replace("_", "-"))
    if getattr(args, "reserve_vram", None) is not None:
        argv += ["--reserve-vram", str(args.reserve_vram)]
    for name in ("disable_smart_memory", "force_fp32", "force_fp16", "cpu_vae", "compile"):
        if getattr(args, name, False):
            argv.append("--" + name.replace("_", "-"))
    for table, chosen in ((UNET_FLAGS, getattr(args, "unet_dtype", None)), (VAE_FLAGS, getattr(args, "vae_dtype", None))):
        argv += [flag for flag, dtype in table.items() if chosen == dtype]
    return argv
