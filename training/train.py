"""Train the built-in shapes model: the VAE first, then the text encoder with the UNet.

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
from diffusion.text_encoder import chunk_ids, chunk_words, tokenize_weighted  # noqa: E402
from diffusion.types import ModelFamily  # noqa: E402
from training.architecture import (  # noqa: E402
    IMAGE_SIZE, LATENT_SCALE, build_text_encoder, build_unet, build_vae, rescale_vae_latents,
)
from training.loss_plot import save_loss_plot  # noqa: E402
from training.shapes_data import caption, make_batch  # noqa: E402

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


def random_crops(images: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    limit = images.shape[-1] - size + 1
    ys = torch.randint(0, limit, (len(images),), generator=gen).tolist()
    xs = torch.randint(0, limit, (len(images),), generator=gen).tolist()
    return torch.stack([img[:, y : y + size, x : x + size] for img, y, x in zip(images, ys, xs)])


def train_vae(args, device: torch.device) -> tuple[torch.nn.Module, list[float]]:
    """L1 + MSE reconstruction: first on 64-px crops (4x cheaper, edges and colours are
    local), then on whole images at the low end of the learning-rate schedule, because
    GroupNorm and the mid-block attention see the whole frame at generation time.

    The decoder gets the encoder's mean plus a little noise, which keeps it tolerant of
    the imperfect latents a diffusion model produces; the KL term keeps the space tame.
    """
    torch.manual_seed(args.seed)
    vae = build_vae().to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed + 1)
    losses = []
    for step in range(args.vae_steps):
        crops = step < args.vae_crop_steps
        batch = args.vae_batch if crops else max(1, args.vae_batch // 4)
        images, _, _ = make_batch(args.seed * 7919 + step, batch, IMAGE_SIZE)
        x = (random_crops(images, 64, gen) if crops else images).to(device)
        set_lr(optimizer, cosine_lr(step, args.vae_steps, args.vae_lr, 50))
        posterior = vae.encode(x).latent_dist
        mean = posterior.mean
        noise = torch.randn(mean.shape, generator=gen).to(device)
        recon = vae.decode(mean + args.latent_noise * mean.detach().std() * noise).sample
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + args.kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == args.vae_steps - 1:
            log(f"vae step {step}/{args.vae_steps} ({'crops' if crops else 'whole'}) loss {loss.item():.4f}")
    return vae.eval().requires_grad_(False), losses


@torch.no_grad()
def encode_dataset(vae, args, device) -> tuple[torch.Tensor, list]:
    """Encode a fixed set of scenes once (posterior means, already scaled for sampling)."""
    latents, scenes = [], []
    for chunk in range(math.ceil(args.dataset / 256)):
        count = min(256, args.dataset - chunk * 256)
        images, _, batch_scenes = make_batch(args.seed * 104729 + chunk, count, IMAGE_SIZE)
        latents.append(vae.encode(images.to(device)).latent_dist.mean.cpu() * LATENT_SCALE)
        scenes.extend(batch_scenes)
    return torch.cat(latents), scenes


def token_ids(texts: list[str]) -> torch.Tensor:
    """The ids the app's text encoder feeds the model (first 77-token chunk)."""
    return torch.tensor([chunk_ids(chunk_words(tokenize_weighted(t))[0], pad_with_end=True)[0] for t in texts])


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


def train_unet(latents, scenes, args, device, vae=None, out: Path | None = None):
    """Noise prediction (epsilon, SD1's schedule) with min-SNR weighting, joint with the
    text encoder; 10% empty captions teach the unconditional branch used by CFG."""
    torch.manual_seed(args.seed + 2)
    unet = build_unet().to(device).train()
    text = build_text_encoder().to(device).train()
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text).eval()
    params = list(unet.parameters()) + list(text.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.unet_lr, weight_decay=0.01)
    alphas = scaled_linear_alphas_cumprod().to(device)
    snr = alphas / (1 - alphas)
    gen = torch.Generator().manual_seed(args.seed + 3)
    rng = random.Random(args.seed + 4)
    use_bf16 = device.type == "cpu" and args.bf16 and torch.backends.mkldnn.is_available()
    amp_dtype = torch.bfloat16 if (use_bf16 or device.type == "cuda") else None
    losses = []
    order: list[int] = []
    for step in range(args.unet_steps):
        if len(order) < args.unet_batch:
            order += torch.randperm(len(latents), generator=gen).tolist()
        idx, order = order[: args.unet_batch], order[args.unet_batch :]
        x0 = latents[idx].to(device)
        texts = ["" if rng.random() < args.uncond_rate else caption(scenes[i], rng) for i in idx]
        ids = token_ids(texts).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, 1000, (len(idx),), generator=gen).to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        set_lr(optimizer, cosine_lr(step, args.unet_steps, args.unet_lr, 100))
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            context = text(ids).last_hidden_state
            pred = unet(xt, t, encoder_hidden_states=context).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # min-SNR-5 for epsilon prediction
        loss = (weight * (pred.float() - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, decay)
        ema_update(ema_text, text, decay)
        losses.append(loss.item())
        if step % 50 == 0 or step == args.unet_steps - 1:
            log(f"unet step {step}/{args.unet_steps} loss {loss.item():.4f}")
        if out is not None and args.snapshot_every and (step + 1) % args.snapshot_every == 0 and step + 1 < args.unet_steps:
            path = export(ema_unet, ema_text, vae, out / f"snapshot_{step + 1:05d}.safetensors")
            log(f"snapshot {path}")
    return ema_unet.requires_grad_(False), ema_text.requires_grad_(False), losses


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "training" / "runs" / "default"))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--vae-steps", type=int, default=1200)
    parser.add_argument("--vae-crop-steps", type=int, default=700, help="VAE steps on 64-px crops before whole images")
    parser.add_argument("--vae-batch", type=int, default=16, help="crops per VAE step (whole images: a quarter)")
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--latent-noise", type=float, default=0.1, help="decoder input noise, relative to latent spread")
    parser.add_argument("--dataset", type=int, default=12288, help="scenes encoded for the UNet stage")
    parser.add_argument("--unet-steps", type=int, default=1600)
    parser.add_argument("--unet-batch", type=int, default=48)
    parser.add_argument("--unet-lr", type=float, default=8e-4)
    parser.add_argument("--uncond-rate", type=float, default=0.1)
    parser.add_argument("--ema", type=float, default=0.998)
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

    vae_file = out / "vae_stage.pt"
    if args.reuse_vae and vae_file.exists():
        saved = torch.load(vae_file, weights_only=True)
        vae = build_vae().to(device)
        vae.load_state_dict(saved["state_dict"])
        vae.eval().requires_grad_(False)
        vae_losses, vae_seconds = saved["losses"].tolist(), float(saved["seconds"])
        log(f"reusing the VAE of {vae_file} (trained in {vae_seconds:.0f} s)")
    else:
        vae, vae_losses = train_vae(args, device)
        latents_raw, _ = encode_dataset(vae, argparse.Namespace(**{**vars(args), "dataset": 512}), device)
        std = float((latents_raw / LATENT_SCALE).std())
        rescale_vae_latents(vae, std)
        vae_seconds = time.perf_counter() - started
        torch.save({"state_dict": vae.state_dict(), "losses": torch.tensor(vae_losses),
                    "seconds": torch.tensor(vae_seconds)}, vae_file)
        log(f"vae done in {vae_seconds:.0f} s; latent std {std:.3f} rescaled to {1 / LATENT_SCALE:.3f}")
    save_reconstructions(vae, out / "vae_reconstructions.png", args.seed + 99, device)
    if args.vae_only:
        return 0
    unet_started = time.perf_counter()
    latents, scenes = encode_dataset(vae, args, device)
    log(f"encoded {len(latents)} scenes; scaled latent std {latents.std():.3f}")
    unet, text, unet_losses = train_unet(latents, scenes, args, device, vae, out)
    checkpoint = export(unet, text, vae, out / DEFAULT_NAME)
    seconds = vae_seconds + time.perf_counter() - unet_started  # a reused VAE counts its own time
    with open(out / "losses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stage", "step", "loss"])
        writer.writerows(("vae", i, v) for i, v in enumerate(vae_losses))
        writer.writerows(("unet", i, v) for i, v in enumerate(unet_losses))
    save_loss_plot({"VAE": vae_losses, "UNet + text encoder": unet_losses}, out / "loss.png")
    (out / "summary.json").write_text(json.dumps({"seconds": round(seconds), "device": str(device),
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
