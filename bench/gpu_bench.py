"""Text-to-image speed on the GPU: our executor against diffusers' StableDiffusionPipeline /
StableDiffusionXLPipeline on the very same random weights (speed does not depend on their
values), in the same process.

Full-size SD1.5 (512x512) and SDXL (1024x1024) architectures are built from the shipped
configs, written as original-layout checkpoints and loaded by our CheckpointLoaderSimple;
diffusers gets the modules themselves. Each case runs 20 euler steps at batch 1 and 4,
repeats in alternating order, and prints seconds per image, it/s (sampler steps per second
of the whole run, text encoding and decoding included, as a progress bar counts them),
peak GPU memory and the ratio of the times ours/diffusers (under 1: ours is faster). `--compile` compiles our UNet (the first, warm-up prompt compiles).
`--tiny --device cpu` is a smoke run on tiny models.

Run: python -m bench.gpu_bench [--models sd15,sdxl] [--batches 1,4] [--steps 20] [--repeats 3]
     [--compile] [--tiny --device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from diffusion.types import ModelFamily  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"sd15": 512, "sdxl": 1024}
FAMILIES = {"sd15": ModelFamily.SD1, "sdxl": ModelFamily.SDXL}


def full_size_parts(family: ModelFamily, device: torch.device, dtype: torch.dtype) -> dict:
    """The family's full-size modules from the shipped configs, random weights, on `device`."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from diffusion import convert

    def cfg(part):
        return {k: v for k, v in convert.load_base_config(family, part).items() if not k.startswith("_")}

    def clip(part, cls):
        return cls(CLIPTextConfig(**{k: v for k, v in cfg(part).items() if k not in ("architectures", "model_type")}))

    torch.manual_seed(0)
    with torch.device(device):
        parts = {"family": family, "unet": UNet2DConditionModel.from_config(cfg("unet")),
                 "vae": AutoencoderKL.from_config(cfg("vae")), "text_encoder": clip("text_encoder", CLIPTextModel)}
        if family == ModelFamily.SDXL:
            parts["text_encoder_2"] = clip("text_encoder_2", CLIPTextModelWithProjection)
    for key in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if key in parts:
            parts[key] = parts[key].to(dtype).eval().requires_grad_(False)
    return parts


def tiny_parts(family: ModelFamily) -> dict:
    from tests.tiny_models import build_tiny_diffusers_parts

    return build_tiny_diffusers_parts(family)


def diffusers_pipeline(parts: dict):
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    from diffusion.tokenizer import load_clip_tokenizer

    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, timestep_spacing="linspace", steps_offset=1)
    if parts["family"] == ModelFamily.SDXL:
        pipe = StableDiffusionXLPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"],
                                         text_encoder_2=parts["text_encoder_2"], tokenizer=load_clip_tokenizer(),
                                         tokenizer_2=load_clip_tokenizer(), unet=parts["unet"], scheduler=scheduler)
    else:
        pipe = StableDiffusionPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"],
                                       tokenizer=load_clip_tokenizer(), unet=parts["unet"], scheduler=scheduler,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def our_prompt(ckpt: str, size: int, steps: int, batch: int, seed: int) -> dict:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=size, height=size, batch_size=batch)
    prompt["3"]["inputs"].update(seed=seed, steps=steps, cfg=7.0, sampler_name="euler", scheduler="normal")
    prompt["6"]["inputs"]["text"] = "a lighthouse on a cliff at dusk"
    prompt["7"]["inputs"]["text"] = ""
    return prompt


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else "n/a"


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def bench_model(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> list[str]:
    from diffusion.export import write_original_checkpoint
    from executor.run import Executor
    from nodes.folders import Folders

    family = FAMILIES[name]
    size = 64 if args.tiny else SIZES[name]
    parts = tiny_parts(family) if args.tiny else full_size_parts(family, device, dtype)
    base = Path(tempfile.mkdtemp())
    folders = Folders.under(base)
    (folders.models / "checkpoints").mkdir(parents=True)
    ckpt = f"{name}.safetensors"
    write_original_checkpoint(parts, family, folders.models / "checkpoints" / ckpt,
                              dtype=None if dtype == torch.float32 else torch.float16)
    pipe = diffusers_pipeline(parts).to(device)
    executor = Executor(folders)
    lines = [time_batch(executor, pipe, ckpt, name, size, batch, args, device) for batch in args.batches]
    del pipe, executor, parts
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return lines


def time_batch(executor, pipe, ckpt: str, name: str, size: int, batch: int, args: argparse.Namespace,
               device: torch.device) -> str:
    """One batch size: a warm-up each, then `repeats` timed runs in alternating order."""
    def ours(seed: int) -> None:
        result = executor.run(our_prompt(ckpt, size, args.steps, batch, seed))
        assert result.status == "success", result.error

    def theirs(seed: int) -> None:
        generator = torch.Generator(device).manual_seed(seed)
        pipe("a lighthouse on a cliff at dusk", negative_prompt="", height=size, width=size,
             num_inference_steps=args.steps, guidance_scale=7.0, num_images_per_prompt=batch,
             generator=generator, output_type="pil")

    ours(0)  # loads (and compiles, with --compile)
    theirs(0)
    times: dict[str, list[float]] = {"ours": [], "diffusers": []}
    peaks: dict[str, str] = {}
    for repeat in range(args.repeats):
        order = [("ours", ours), ("diffusers", theirs)]
        for label, run in (order if repeat % 2 == 0 else order[::-1]):
            _reset_peak(device)
            _sync(device)
            start = time.perf_counter()
            run(1 + repeat)
            _sync(device)
            times[label].append(time.perf_counter() - start)
            peaks[label] = _peak(device)
    mine, ref = statistics.median(times["ours"]), statistics.median(times["diffusers"])
    ratio = statistics.median(a / b for a, b in zip(times["ours"], times["diffusers"]))
    line = (f"{name} {size}x{size} batch {batch}, {args.steps} steps: "
            f"ours {mine / batch:.3f} s/image, {args.steps / mine:.2f} it/s, peak {peaks['ours']}; "
            f"diffusers {ref / batch:.3f} s/image, {args.steps / ref:.2f} it/s, "
            f"peak {peaks['diffusers']}; ratio ours/diffusers {ratio:.3f}")
    print(line, flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="sd15,sdxl")
    parser.add_argument("--batches", default="1,4", type=lambda s: [int(b) for b in s.split(",")])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny models (a smoke run, e.g. with --device cpu)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our UNet (CUDA)")
    args = parser.parse_args()

    from diffusion import speed
    from diffusion.device import DEVICE_ENV, default_dtype
    from diffusion.memory_manager import MANAGER, MemorySettings

    device = torch.device(args.device)
    os.environ[DEVICE_ENV] = str(device)
    MANAGER.configure(device, MemorySettings())
    speed.configure(speed.SpeedSettings(compile=args.compile), device)
    dtype = default_dtype(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}, weights {str(dtype).removeprefix('torch.')}, torch {torch.__version__}, "
          f"compile {'on' if args.compile else 'off'}", flush=True)
    for model in args.models.split(","):
        bench_model(model.strip(), args, device, dtype)


if __name__ == "__main__":
    main()
