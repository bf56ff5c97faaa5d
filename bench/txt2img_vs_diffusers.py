"""End-to-end text-to-image: our executor versus diffusers' StableDiffusionPipeline, same
weights, same size/steps/cfg/sampler, same process.

A small random-weight SD1-architecture model (real layer types, reduced widths) is
written as an original-layout single file and loaded through our loader; diffusers gets
the very same modules. Each repeat runs the three cases in a fresh random order (so that
neither side always runs first or last on a machine whose speed drifts), and each of our
times is divided by the diffusers time of the same repeat; the medians of those paired
ratios are printed with the median seconds. Diffusers' image is written as a PNG too,
since our workflow ends in SaveImage.
Run: python -m bench.txt2img_vs_diffusers [--size 128] [--steps 20] [--repeats 7]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from diffusion.types import ModelFamily  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def build_small_sd1(seed: int = 0) -> dict:
    """SD1 layer layout at reduced widths: about the cost profile of a small real model."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=16, block_out_channels=(64, 128, 256),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=2, attention_head_dim=8, cross_attention_dim=256, norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1, latent_channels=4, norm_num_groups=32,
    )
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=256, intermediate_size=1024,
                                        num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=77,
                                        hidden_act="quick_gelu", eos_token_id=49407))
    parts = {"family": ModelFamily.SD1, "unet": unet.eval(), "vae": vae.eval(), "text_encoder": clip.eval()}
    return parts


def our_workflow(ckpt: str, size: int, steps: int, cfg: float, seed: int, text: str) -> dict:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=size, height=size, batch_size=1)
    prompt["3"]["inputs"].update(seed=seed, steps=steps, cfg=cfg, sampler_name="euler", scheduler="normal")
    prompt["6"]["inputs"]["text"] = text
    prompt["7"]["inputs"]["text"] = ""
    return prompt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--order-seed", type=int, default=0, help="seed of the per-repeat run order")
    args = parser.parse_args()

    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from diffusion.tokenizer import load_clip_tokenizer
    from executor.run import Executor
    from nodes.folders import Folders
    from diffusion.export import write_original_checkpoint

    base = Path(tempfile.mkdtemp())
    folders = Folders.under(base)
    (folders.models / "checkpoints").mkdir(parents=True)
    parts = build_small_sd1()
    write_original_checkpoint(parts, ModelFamily.SD1, folders.models / "checkpoints" / "small.safetensors")

    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, timestep_spacing="linspace",
                                       steps_offset=1)
    pipe = StableDiffusionPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"],
                                   tokenizer=load_clip_tokenizer(), unet=parts["unet"], scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    executor = Executor(folders)
    text = "a red circle on a blue background"
    executor.run(our_workflow("small.safetensors", args.size, args.steps, args.cfg, 0, text))  # load + warm up
    pipe(text, negative_prompt="", height=args.size, width=args.size, num_inference_steps=args.steps,
         guidance_scale=args.cfg, output_type="np")

    def run_ours(seed: int, prompt_text: str) -> None:
        result = executor.run(our_workflow("small.safetensors", args.size, args.steps, args.cfg, seed, prompt_text))
        assert result.status == "success" and "3" in result.executed

    def run_diffusers(seed: int) -> None:
        image = pipe(text, negative_prompt="", height=args.size, width=args.size, num_inference_steps=args.steps,
                     guidance_scale=args.cfg, output_type="pil",
                     generator=torch.Generator().manual_seed(seed)).images[0]
        image.save(base / f"diffusers_{seed}.png", compress_level=4)

    cases = {
        "ours_seed": lambda i: run_ours(100 + i, text),  # new seed: the text encoding is cached
        "ours_prompt": lambda i: run_ours(100 + i, f"{text}, variation {i}"),  # new text: encoded again
        "diffusers": lambda i: run_diffusers(100 + i),
    }
    order_rng = random.Random(args.order_seed)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(args.repeats):
        names = list(cases)
        order_rng.shuffle(names)
        for name in names:
            start = time.perf_counter()
            cases[name](i)
            times[name].append(time.perf_counter() - start)

    med = statistics.median
    theirs = times["diffusers"]

    def paired(name: str) -> float:
        return med(ours / ref for ours, ref in zip(times[name], theirs))

    print(f"txt2img {args.size}x{args.size}, {args.steps} steps euler, cfg {args.cfg}, torch threads "
          f"{torch.get_num_threads()}, {args.repeats} repeats in shuffled order (median seconds; "
          f"ratio = median of per-repeat ours/diffusers)")
    print(f"  diffusers StableDiffusionPipeline + PNG    : {med(theirs):.3f} s")
    print(f"  ours, new seed (sample + decode + PNG)     : {med(times['ours_seed']):.3f} s   "
          f"ratio ours/diffusers {paired('ours_seed'):.3f}")
    print(f"  ours, new prompt (+ text encode)           : {med(times['ours_prompt']):.3f} s   "
          f"ratio ours/diffusers {paired('ours_prompt'):.3f}")


if __name__ == "__main__":
    main()
