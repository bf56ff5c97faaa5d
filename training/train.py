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
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from diffusion.export import write_original_checkpoint  # noqa: E402
from diffusion.model import scaled_linear_alphas_cumprod  # noqa: E402
from diffusion.types import ModelFamily  # noqa: E402
from training.architecture import (  # noqa: E402
    IMAGE_SIZE, LATENT_SCALE, build_unet, build_vae, rescale_vae_latents,
)
from training.loss_plot import save_loss_plot  # noqa: E402
from training.shapes_data import caption, make_batch  # noqa: E402
from training.text_pretrain import pretrain_text_encoder, token_ids  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "studio-shapes-128.safetensors"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_vae(args, device: torch.device, vae: torch.nn.Module | None = None, refine: bool = False
              ) -> tuple[torch.nn.Module, list[float]]:
    """L1 + MSE reconstruction on whole images: GroupNorm and the mid-block attention see
    the whole frame at generation time, so the VAE trains on whole frames too.

    Two cosine cycles, each with a fresh optimizer: the first at a high peak learning
    rate gets the colours and layout, the refining one at a lower peak sharpens edges
    and small shapes. The decoder gets the encoder's mean plus a little noise, which keeps
    it tolerant of the imperfect latents a diffusion model produces.
    """
    steps, peak = (args.vae_refine_steps, args.vae_refine_lr) if refine else (args.vae_steps, args.vae_lr)
    offset = args.vae_steps if refine else 0
    torch.manual_seed(args.seed + offset)
    vae = vae if vae is not None else build_vae().to(device)
    vae.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=peak, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed + 1 + offset)
    amp_dtype = _autocast_dtype(args, device)
    losses = []
    for step in range(steps):
        images, _, _ = make_batch(args.seed * 7919 + offset + step, args.vae_batch, IMAGE_SIZE)
        x = images.to(device)
        set_lr(optimizer, cosine_lr(step, steps, peak, 50))
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            posterior = vae.encode(x).latent_dist
            mean = posterior.mean
            noise = torch.randn(mean.shape, generator=gen).to(device)
            recon = vae.decode(mean + args.latent_noise * mean.detach().std() * noise).sample.float()
        error = (recon - x).abs() + (recon - x).pow(2)
        weight = shape_weight(x, args.shape_weight)
        loss = (weight * error).mean() / weight.mean() + args.kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            log(f"vae {'refine ' if refine else ''}step {step}/{steps} loss {loss.item():.4f}")
    return vae.eval().requires_grad_(False), losses


def fit_latent_scale(vae, args, device) -> float:
    """Rescale the VAE so that its latents times SD1's scale have unit spread."""
    latents_raw, _ = encode_dataset(vae, argparse.Namespace(**{**vars(args), "dataset": 512}), device)
    std = float((latents_raw / LATENT_SCALE).std())
    rescale_vae_latents(vae, std)
    return std


def shape_weight(images: torch.Tensor, extra: float) -> torch.Tensor:
    """Per-pixel loss weight [B,1,H,W]: 1 on the background, 1 + extra on and around the shape.

    A small shape covers a few percent of the frame; without this the loss is mostly
    background and the VAE learns edges and small shapes last.
    """
    background = images[:, :, :1, :1]  # shapes keep clear of the corners
    on_shape = ((images - background).abs().sum(dim=1, keepdim=True) > 0.05).float()
    near_shape = F.max_pool2d(on_shape, kernel_size=5, stride=1, padding=2)
    return 1.0 + extra * near_shape


def _autocast_dtype(args, device: torch.device):
    """bf16 where the hardware has it (CUDA, or a CPU with oneDNN), else full precision."""
    if device.type == "cuda":
        return torch.bfloat16
    return torch.bfloat16 if args.bf16 and torch.backends.mkldnn.is_available() else None


@torch.no_grad()
def encode_dataset(vae, args, device) -> tuple[torch.Tensor, list]:
    """Encode a fixed set of scenes once (posterior means, already scaled for sampling).

    Chunks of 32: on a CPU, larger batches of 128-px images are slower per image.
    """
    amp_dtype = _autocast_dtype(args, device)
    latents, scenes = [], []
    for chunk in range(math.ceil(args.dataset / 32)):
        count = min(32, args.dataset - chunk * 32)
        images, _, batch_scenes = make_batch(args.seed * 104729 + chunk, count, IMAGE_SIZE)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            mean = vae.encode(images.to(device)).latent_dist.mean
        latents.append(mean.float().cpu() * LATENT_SCALE)
        scenes.extend(batch_scenes)
    return torch.cat(latents), scenes


def ema_update(target: torch.nn.Module, source: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, 1 - decay)


def export(unet, text, vae, path: Path) -> Path:
    parts = {"unet": copy.deepcopy(unet).float().cpu(), "vae": copy.deepcopy(vae).float().cpu(),
             "text_encoder": copy.deepcopy(text).float().cpu()}
    return write_original_checkpoint(parts, ModelFamily.SD1, path, dtype=torch.float16)


@torch.no_grad()
def save_reconstructions(vae, path: Path, seed: int, device) -> None:
    """Originals (top row) over their reconstructions, to judge the VAE by eye."""
    from PIL import Image

    images, _, _ = make_batch(seed, 8, IMAGE_SIZE)
    recon = vae.decode(vae.encode(images.to(device)).latent_dist.mean).sample.cpu()
    rows = torch.cat([torch.cat(list(images), dim=2), torch.cat(list(recon), dim=2)], dim=1)
    array = ((rows.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(array).save(path)


def train_unet(latents, scenes, text, args, device, vae=None, out: Path | None = None):
    """Noise prediction (epsilon, SD1's schedule) with min-SNR weighting, on the frozen,
    pre-trained text encoder; 10% empty captions teach the unconditional branch of CFG.

    Offset noise (a random shift per image and channel) makes the model take the
    background's overall colour from the prompt rather than from the starting noise.
    """
    torch.manual_seed(args.seed + 2)
    unet = build_unet().to(device).train()
    ema_unet = copy.deepcopy(unet).eval()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.unet_lr, weight_decay=0.01)
    alphas = scaled_linear_alphas_cumprod().to(device)
    snr = alphas / (1 - alphas)
    gen = torch.Generator().manual_seed(args.seed + 3)
    rng = random.Random(args.seed + 4)
    amp_dtype = _autocast_dtype(args, device) if device.type == "cuda" else None  # bf16 is slower here on CPU
    losses = []
    order: list[int] = []
    for step in range(args.unet_steps):
        if len(order) < args.unet_batch:
            order += torch.randperm(len(latents), generator=gen).tolist()
        idx, order = order[: args.unet_batch], order[args.unet_batch :]
        x0 = latents[idx].to(device)
        texts = ["" if rng.random() < args.uncond_rate else caption(scenes[i], rng) for i in idx]
        with torch.no_grad():
            context = text(token_ids(texts).to(device)).last_hidden_state
        noise = torch.randn(x0.shape, generator=gen)
        noise += args.offset_noise * torch.randn(x0.shape[:2] + (1, 1), generator=gen)
        noise = noise.to(device)
        t = torch.randint(0, 1000, (len(idx),), generator=gen).to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        set_lr(optimizer, cosine_lr(step, args.unet_steps, args.unet_lr, 100))
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            pred = unet(xt, t, encoder_hidden_states=context).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # min-SNR-5 for epsilon prediction
        loss = (weight * (pred.float() - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        ema_update(ema_unet, unet, min(args.ema, (1 + step) / (10 + step)))
        losses.append(loss.item())
        if step % 50 == 0 or step == args.unet_steps - 1:
            log(f"unet step {step}/{args.unet_steps} loss {loss.item():.4f}")
        if out is not None and args.snapshot_every and (step + 1) % args.snapshot_every == 0 and step + 1 < args.unet_steps:
            path = export(ema_unet, text, vae, out / f"snapshot_{step + 1:05d}.safetensors")
            log(f"snapshot {path}")
    return ema_unet.requires_grad_(False), losses


def vae_stage(args, out: Path, device: torch.device) -> tuple[torch.nn.Module, list[float], float]:
    """Both VAE cycles, each followed by the latent rescale and saved; with --reuse-vae a
    saved cycle is loaded instead of trained again (its recorded time still counts)."""
    vae, losses, seconds = None, [], 0.0
    for refine, name in ((False, "vae_stage.pt"), (True, "vae_refined.pt")):
        file = out / name
        if args.reuse_vae and file.exists():
            saved = torch.load(file, weights_only=True)
            vae = vae if vae is not None else build_vae().to(device)
            vae.load_state_dict(saved["state_dict"])
            losses, seconds = saved["losses"].tolist(), float(saved["seconds"])
            log(f"reusing the VAE of {file} (trained in {seconds:.0f} s)")
            continue
        started = time.perf_counter()
        vae, cycle_losses = train_vae(args, device, vae, refine)
        std = fit_latent_scale(vae, args, device)
        losses, seconds = losses + cycle_losses, seconds + time.perf_counter() - started
        torch.save({"state_dict": vae.state_dict(), "losses": torch.tensor(losses),
                    "seconds": torch.tensor(seconds)}, file)
        log(f"vae cycle done; {seconds:.0f} s so far; latent std {std:.3f} rescaled to {1 / LATENT_SCALE:.3f}")
    return vae.eval().requires_grad_(False), losses, seconds


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "training" / "runs" / "default"))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--text-steps", type=int, default=250)
    parser.add_argument("--text-batch", type=int, default=64)
    parser.add_argument("--text-lr", type=float, default=1e-3)
    parser.add_argument("--vae-steps", type=int, default=900)
    parser.add_argument("--vae-batch", type=int, default=6)
    parser.add_argument("--vae-lr", type=float, default=5e-4)
    parser.add_argument("--vae-refine-steps", type=int, default=600)
    parser.add_argument("--vae-refine-lr", type=float, default=2e-4)
    parser.add_argument("--shape-weight", type=float, default=4.0, help="extra VAE loss weight on and near the shape")
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--latent-noise", type=float, default=0.1, help="decoder input noise, relative to latent spread")
    parser.add_argument("--dataset", type=int, default=8192, help="scenes encoded for the UNet stage")
    parser.add_argument("--unet-steps", type=int, default=1600)
    parser.add_argument("--unet-batch", type=int, default=32)
    parser.add_argument("--unet-lr", type=float, default=8e-4)
    parser.add_argument("--uncond-rate", type=float, default=0.1)
    parser.add_argument("--offset-noise", type=float, default=0.1)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--snapshot-every", type=int, default=400, help="UNet steps between snapshot checkpoints")
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
    latents, scenes = encode_dataset(vae, args, device)
    log(f"encoded {len(latents)} scenes; scaled latent std {latents.std():.3f}")
    unet, unet_losses = train_unet(latents, scenes, text, args, device, vae, out)
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
                                                                    "encode_and_unet": round(unet_seconds)},
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
