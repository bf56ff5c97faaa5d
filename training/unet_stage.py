"""The UNet stage: noise prediction on the encoded scenes, with recolour pairs for edits."""
from __future__ import annotations

import copy
import random
from typing import Callable, Optional

import torch

from diffusion.model import scaled_linear_alphas_cumprod
from training.architecture import build_unet
from training.common import autocast_dtype, cosine_lr, log, set_lr
from training.recolour_pairs import PAIR_TIMESTEPS, RecolourPairs, noise_target
from training.shapes_data import Scene, caption
from training.text_pretrain import token_ids


def train_unet(latents: torch.Tensor, scenes: list[Scene], text: torch.nn.Module, args, device: torch.device,
               pairs: Optional[RecolourPairs] = None,
               on_snapshot: Optional[Callable[[torch.nn.Module, int], None]] = None
               ) -> tuple[torch.nn.Module, list[float]]:
    """Noise prediction (epsilon, SD1's schedule) with min-SNR weighting, on the frozen,
    pre-trained text encoder; 10% empty captions teach the unconditional branch of CFG.

    Offset noise (a random shift per image and channel) makes the model take the
    background's overall colour from the prompt rather than from the starting noise.
    With `pairs`, a share of each batch are recolour samples (see recolour_pairs.py):
    noised from one colouring, with the noise target that leads to the other.
    Returns the EMA weights; `on_snapshot(ema_unet, step)` is called every
    args.snapshot_every steps.
    """
    torch.manual_seed(args.seed + 2)
    unet = build_unet().to(device).train()
    ema_unet = copy.deepcopy(unet).eval()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.unet_lr, weight_decay=0.01)
    alphas = scaled_linear_alphas_cumprod().to(device)
    snr = alphas / (1 - alphas)
    gen = torch.Generator().manual_seed(args.seed + 3)
    rng = random.Random(args.seed + 4)
    amp_dtype = autocast_dtype(device) if device.type == "cuda" else None  # bf16 is slower here on CPU
    n_pairs = round(args.unet_batch * args.recolour_share) if pairs is not None else 0
    losses: list[float] = []
    order: list[int] = []
    for step in range(args.unet_steps):
        if len(order) < args.unet_batch:
            order += torch.randperm(len(latents), generator=gen).tolist()
        idx, order = order[: args.unet_batch - n_pairs], order[args.unet_batch - n_pairs :]
        x0 = latents[idx]
        texts = ["" if rng.random() < args.uncond_rate else caption(scenes[i], rng) for i in idx]
        t = torch.randint(0, 1000, (len(idx),), generator=gen)
        source = x0
        if n_pairs:
            pair_source, pair_target, pair_texts = pairs.sample(n_pairs, gen, rng)
            source, x0 = torch.cat([x0, pair_source]), torch.cat([x0, pair_target])
            texts += pair_texts
            t = torch.cat([t, torch.randint(*PAIR_TIMESTEPS, (n_pairs,), generator=gen)])
        with torch.no_grad():
            context = text(token_ids(texts).to(device)).last_hidden_state
        noise = torch.randn(x0.shape, generator=gen)
        noise += args.offset_noise * torch.randn(x0.shape[:2] + (1, 1), generator=gen)
        x0, source, noise, t = x0.to(device), source.to(device), noise.to(device), t.to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * source + (1 - a).sqrt() * noise
        target = noise_target(noise, source, x0, a)
        set_lr(optimizer, cosine_lr(step, args.unet_steps, args.unet_lr, 100))
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            pred = unet(xt, t, encoder_hidden_states=context).sample
        weight = torch.clamp(snr[t], max=5.0) / snr[t]  # min-SNR-5 for epsilon prediction
        if n_pairs:  # their targets are larger; kept from drowning out the plain samples
            weight[-n_pairs:] *= args.recolour_weight
        loss = (weight * (pred.float() - target).pow(2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        ema_update(ema_unet, unet, min(args.ema, (1 + step) / (10 + step)))
        losses.append(loss.item())
        if step % 50 == 0 or step == args.unet_steps - 1:
            log(f"unet step {step}/{args.unet_steps} loss {loss.item():.4f}")
        if on_snapshot and args.snapshot_every and (step + 1) % args.snapshot_every == 0 and step + 1 < args.unet_steps:
            on_snapshot(ema_unet, step + 1)
    return ema_unet.requires_grad_(False), losses


def ema_update(target: torch.nn.Module, source: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, 1 - decay)
