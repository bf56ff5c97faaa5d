"""The VAE stage: train the autoencoder, rescale its latent space, encode the scenes."""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from training.architecture import IMAGE_SIZE, LATENT_SCALE, build_vae, rescale_vae_latents
from training.common import autocast_dtype, cosine_lr, encode_images, log, set_lr
from training.shapes_data import Scene, draw_scene, make_batch, random_scene, scene_box, to_tensor


def train_vae(args, device: torch.device) -> tuple[torch.nn.Module, list[float]]:
    """L1 + MSE reconstruction, weighted towards the shape, in one cosine cycle.

    Most steps train on small crops around the shape, most of them small shapes: a
    48-px crop costs a seventh of a whole frame and holds nearly all of its edges, so
    the VAE sees many times more shapes for the same time, and small shapes (a star's
    points over five latent cells) are what it learns last. The last steps, at the low
    end of the learning rate, are on whole frames, because GroupNorm and the mid-block
    attention see the whole frame at generation time. The decoder gets the encoder's
    mean plus a little noise, which keeps it tolerant of the imperfect latents a
    diffusion model produces.
    """
    torch.manual_seed(args.seed)
    vae = build_vae().to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed + 1)
    amp_dtype = autocast_dtype(device, args.bf16)
    total = args.vae_crop_steps + args.vae_steps
    losses = []
    for step in range(total):
        cropped = step < args.vae_crop_steps
        images = vae_batch(args.seed * 7919 + step, args.vae_crop_batch if cropped else args.vae_batch,
                           args.vae_crop_size if cropped else IMAGE_SIZE, args.vae_small_share)
        weight = shape_weight(images, args.shape_weight).to(device)
        x = images.to(device)
        set_lr(optimizer, cosine_lr(step, total, args.vae_lr, 50))
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            posterior = vae.encode(x).latent_dist
            mean = posterior.mean
            noise = torch.randn(mean.shape, generator=gen).to(device)
            recon = vae.decode(mean + args.latent_noise * mean.detach().std() * noise).sample.float()
        error = (recon - x).abs() + (recon - x).pow(2)
        loss = (weight * error).mean() / weight.mean() + args.kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == total - 1:
            log(f"vae step {step}/{total} ({'crops' if cropped else 'whole frames'}) loss {loss.item():.4f}")
    return vae.eval().requires_grad_(False), losses


def vae_batch(seed: int, count: int, size: int, small_share: float) -> torch.Tensor:
    """`count` scenes [N,3,size,size] in [-1, 1], each a size x size window of a whole
    128-px scene around its shape, shifted at random by up to a quarter of the window
    (so shapes are also seen cut by the border); size 128 gives whole frames."""
    rng = random.Random(seed)
    images = []
    for _ in range(count):
        scene = random_scene(rng, small_share)
        box = scene_box(scene, IMAGE_SIZE, rng)
        image = draw_scene(scene, box, IMAGE_SIZE)
        if size < IMAGE_SIZE:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            left = int(min(max(cx - size / 2 + rng.uniform(-size / 4, size / 4), 0), IMAGE_SIZE - size))
            top = int(min(max(cy - size / 2 + rng.uniform(-size / 4, size / 4), 0), IMAGE_SIZE - size))
            image = image.crop((left, top, left + size, top + size))
        images.append(image)
    return to_tensor(images)


def shape_weight(images: torch.Tensor, extra: float) -> torch.Tensor:
    """Per-pixel loss weight [B,1,H,W]: 1 on the background, 1 + extra on and around the shape.

    A small shape covers a few percent of the frame; without this the loss is mostly
    background and the VAE learns edges and small shapes last.
    """
    background = images[:, :, :1, :1]  # shapes keep clear of the corners
    on_shape = ((images - background).abs().sum(dim=1, keepdim=True) > 0.05).float()
    near_shape = F.max_pool2d(on_shape, kernel_size=5, stride=1, padding=2)
    return 1.0 + extra * near_shape


def encode_scenes(vae, count: int, seed: int, device: torch.device, dtype: torch.dtype | None
                  ) -> tuple[torch.Tensor, list[Scene]]:
    """Encode `count` jittered random scenes once: latents already scaled for sampling
    (times SD1's scale), and the scenes. Chunks of 16: on a CPU, larger batches of
    128-px images are no faster per image."""
    latents, scenes = [], []
    for chunk in range(math.ceil(count / 16)):
        images, _, batch_scenes = make_batch(seed * 104729 + chunk, min(16, count - chunk * 16), IMAGE_SIZE)
        latents.append(encode_images(vae, images, device, dtype) * LATENT_SCALE)
        scenes.extend(batch_scenes)
    return torch.cat(latents), scenes


def fit_latent_scale(vae, args, device: torch.device) -> float:
    """Rescale the VAE so that its latents times SD1's scale have unit spread."""
    latents, _ = encode_scenes(vae, 512, args.seed, device, autocast_dtype(device, args.bf16))
    std = float((latents / LATENT_SCALE).std())
    rescale_vae_latents(vae, std)
    return std


@torch.no_grad()
def save_reconstructions(vae, path: Path, seed: int, device: torch.device) -> None:
    """Originals (top row) over their reconstructions, to judge the VAE by eye."""
    from PIL import Image

    images = vae_batch(seed, 8, IMAGE_SIZE, small_share=0.5)
    recon = vae.decode(vae.encode(images.to(device)).latent_dist.mean).sample.cpu()
    rows = torch.cat([torch.cat(list(images), dim=2), torch.cat(list(recon), dim=2)], dim=1)
    array = ((rows.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(array).save(path)


def vae_stage(args, out: Path, device: torch.device) -> tuple[torch.nn.Module, list[float], float]:
    """Train the VAE, rescale its latents and save it; with --reuse-vae the VAE saved by an
    earlier run in --out is loaded instead (its recorded time still counts)."""
    file = out / "vae.pt"
    if args.reuse_vae and file.exists():
        saved = torch.load(file, weights_only=True)
        vae = build_vae().to(device)
        vae.load_state_dict(saved["state_dict"])
        seconds = float(saved["seconds"])
        log(f"reusing the VAE of {file} (trained in {seconds:.0f} s)")
        return vae.eval().requires_grad_(False), saved["losses"].tolist(), seconds
    started = time.perf_counter()
    vae, losses = train_vae(args, device)
    std = fit_latent_scale(vae, args, device)
    seconds = time.perf_counter() - started
    torch.save({"state_dict": vae.state_dict(), "losses": torch.tensor(losses), "seconds": torch.tensor(seconds)}, file)
    log(f"vae done in {seconds:.0f} s; latent std {std:.3f} rescaled to {1 / LATENT_SCALE:.3f}")
    return vae, losses, seconds
