"""Train the built-in shapes model: the text encoder, the VAE, then the UNet.

Reproducible from --seed (fixed step counts, seeded data and noise); sized to finish
within an hour on a 2-core CPU, and uses a GPU when there is one. Writes the weights as
an ordinary SD1 single-file checkpoint (fp16), loss curves (CSV and PNG) and a log.

    python -m training.train --out training/runs/default [--install]
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from diffusion.export import write_original_checkpoint  # noqa: E402
from diffusion.types import ModelFamily  # noqa: E402
from training.common import autocast_dtype, log  # noqa: E402
from training.loss_plot import save_loss_plot  # noqa: E402
from training.recolour_pairs import encode_pairs  # noqa: E402
from training.text_pretrain import pretrain_text_encoder  # noqa: E402
from training.unet_stage import train_unet  # noqa: E402
from training.vae_stage import encode_scenes, save_reconstructions, vae_stage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "studio-shapes-128.safetensors"


def export(unet, text, vae, path: Path) -> Path:
    """The three parts as one SD1 single-file checkpoint in fp16."""
    parts = {"unet": copy.deepcopy(unet).float().cpu(), "vae": copy.deepcopy(vae).float().cpu(),
             "text_encoder": copy.deepcopy(text).float().cpu()}
    return write_original_checkpoint(parts, ModelFamily.SD1, path, dtype=torch.float16)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "training" / "runs" / "default"))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--text-steps", type=int, default=250)
    parser.add_argument("--text-batch", type=int, default=64)
    parser.add_argument("--text-lr", type=float, default=1e-3)
    parser.add_argument("--vae-crop-steps", type=int, default=1000,
                        help="VAE steps on crops around the shape, before the whole-frame steps")
    parser.add_argument("--vae-crop-size", type=int, default=48)
    parser.add_argument("--vae-crop-batch", type=int, default=16)
    parser.add_argument("--vae-steps", type=int, default=250, help="VAE steps on whole frames, at the end")
    parser.add_argument("--vae-batch", type=int, default=6)
    parser.add_argument("--vae-small-share", type=float, default=0.7, help="share of small shapes in VAE batches")
    parser.add_argument("--vae-lr", type=float, default=5e-4)
    parser.add_argument("--shape-weight", type=float, default=4.0, help="extra VAE loss weight on and near the shape")
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--latent-noise", type=float, default=0.1, help="decoder input noise, relative to latent spread")
    parser.add_argument("--dataset", type=int, default=8192, help="scenes encoded for the UNet stage")
    parser.add_argument("--unet-steps", type=int, default=4500)
    parser.add_argument("--unet-batch", type=int, default=32)
    parser.add_argument("--unet-lr", type=float, default=8e-4)
    parser.add_argument("--uncond-rate", type=float, default=0.1)
    parser.add_argument("--recolour-pairs", type=int, default=1024, help="recolour pairs encoded for img2img edits")
    parser.add_argument("--recolour-share", type=float, default=0.1, help="share of each UNet batch taken from them")
    parser.add_argument("--recolour-weight", type=float, default=0.25, help="loss weight of recolour samples")
    parser.add_argument("--offset-noise", type=float, default=0.1)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--snapshot-every", type=int, default=1500, help="UNet steps between snapshot checkpoints")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in fp32 on the CPU")
    parser.add_argument("--reuse-vae", action="store_true",
                        help="take the VAE saved by an earlier run in --out instead of training it again")
    parser.add_argument("--vae-only", action="store_true", help="stop after the VAE stage")
    parser.add_argument("--install", action="store_true", help=f"copy the checkpoint to models/checkpoints/{DEFAULT_NAME}")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    log(f"training on {device} with {torch.get_num_threads()} threads; settings {vars(args)}")

    text, text_losses, text_accuracy = pretrain_text_encoder(
        args.seed + 5, args.text_steps, args.text_batch, args.text_lr, device, log)
    text_seconds = time.perf_counter() - started
    vae, vae_losses, vae_seconds = vae_stage(args, out, device)
    save_reconstructions(vae, out / "vae_reconstructions.png", args.seed + 99, device)
    if args.vae_only:
        return 0
    unet_started = time.perf_counter()
    dtype = autocast_dtype(device, args.bf16)
    latents, scenes = encode_scenes(vae, args.dataset, args.seed, device, dtype)
    pairs = encode_pairs(vae, args.recolour_pairs, args.seed * 31 + 7, device, dtype) \
        if args.recolour_pairs and args.recolour_share else None
    log(f"encoded {len(latents)} scenes and {len(pairs) if pairs else 0} recolour pairs; "
        f"scaled latent std {latents.std():.3f}")
    encode_seconds = time.perf_counter() - unet_started

    def snapshot(ema_unet: torch.nn.Module, step: int) -> None:
        log(f"snapshot {export(ema_unet, text, vae, out / f'snapshot_{step:05d}.safetensors')}")

    unet, unet_losses = train_unet(latents, scenes, text, args, device, pairs, snapshot)
    checkpoint = export(unet, text, vae, out / DEFAULT_NAME)
    unet_seconds = time.perf_counter() - unet_started
    seconds = text_seconds + vae_seconds + unet_seconds  # a reused VAE counts its own time
    with open(out / "losses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stage", "step", "loss"])
        writer.writerows(("text", i, v) for i, v in enumerate(text_losses))
        writer.writerows(("vae", i, v) for i, v in enumerate(vae_losses))
        writer.writerows(("unet", i, v) for i, v in enumerate(unet_losses))
    save_loss_plot({"text encoder": text_losses, "VAE": vae_losses, "UNet": unet_losses}, out / "loss.png")
    (out / "summary.json").write_text(json.dumps({"seconds": round(seconds), "device": str(device),
                                                  "stage_seconds": {"text": round(text_seconds), "vae": round(vae_seconds),
                                                                    "encode": round(encode_seconds),
                                                                    "unet": round(unet_seconds - encode_seconds)},
                                                  "text_attribute_accuracy": text_accuracy,
                                                  "settings": vars(args), "size_bytes": checkpoint.stat().st_size,
                                                  "final_vae_loss": sum(vae_losses[-50:]) / 50,
                                                  "final_unet_loss": sum(unet_losses[-50:]) / 50}, indent=1))
    log(f"wrote {checkpoint} ({checkpoint.stat().st_size / 1e6:.1f} MB), loss plot {out / 'loss.png'}; "
        f"total {seconds / 60:.1f} min")
    if args.install:
        target = ROOT / "models" / "checkpoints" / DEFAULT_NAME
        target.write_bytes(checkpoint.read_bytes())
        log(f"installed as {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
