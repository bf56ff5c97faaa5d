"""Teach the text encoder to read a scene out of its caption before the UNet trains.

A text encoder trained jointly from scratch with a small UNet gives the UNet little to
attend to for a long time, and the UNet settles on the unconditional picture. Here the
encoder first learns, from captions alone (seconds of compute), to put every attribute
the caption names (shape, colour, background, size, position, or "not said") into each
token from the end-of-text marker on: those padding tokens fill most of the 77 slots the
UNet's cross-attention sees. The encoder is then frozen for the UNet stage.
"""
from __future__ import annotations

import random
import time
from typing import Callable

import torch
import torch.nn.functional as F

from diffusion.text_encoder import chunk_ids, chunk_words, tokenize_weighted
from training.architecture import TEXT_WIDTH, build_text_encoder
from training.shapes_data import COLOUR_NAMES, POSITIONS, SHAPES, SIZES, caption, parse_prompt, random_scene

END_OF_TEXT = 49407
# Each attribute's classes; the extra last class means "the caption does not say".
ATTRIBUTE_CLASSES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": COLOUR_NAMES,
    "background": COLOUR_NAMES,
    "size": SIZES,
    "position": POSITIONS,
}


def token_ids(texts: list[str]) -> torch.Tensor:
    """The ids the app's text encoder feeds the model (first 77-token chunk)."""
    return torch.tensor([chunk_ids(chunk_words(tokenize_weighted(t))[0], pad_with_end=True)[0] for t in texts])


def attribute_targets(texts: list[str]) -> dict[str, torch.Tensor]:
    """Class index per caption and attribute, as the prompt parser reads the caption."""
    parsed = [parse_prompt(t) for t in texts]
    targets = {}
    for name, classes in ATTRIBUTE_CLASSES.items():
        targets[name] = torch.tensor([classes.index(p[name]) if name in p else len(classes) for p in parsed])
    return targets


def pretrain_text_encoder(
    seed: int,
    steps: int,
    batch: int,
    lr: float,
    device: torch.device,
    log: Callable[[str], None] = print,
) -> tuple[torch.nn.Module, list[float], float]:
    """Returns the frozen encoder, its losses, and the attribute accuracy on fresh captions."""
    torch.manual_seed(seed)
    text = build_text_encoder().to(device).train()
    heads = torch.nn.ModuleDict({
        name: torch.nn.Linear(TEXT_WIDTH, len(classes) + 1) for name, classes in ATTRIBUTE_CLASSES.items()
    }).to(device)
    params = list(text.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    rng = random.Random(seed)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(steps):
        loss = _attribute_loss(text, heads, [caption(random_scene(rng), rng) for _ in range(batch)], device)[0]
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * (1 - step / steps))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == steps - 1:
            log(f"text step {step}/{steps} loss {loss.item():.4f}")
    text.eval()
    with torch.no_grad():
        check_rng = random.Random(seed + 1)
        _, accuracy = _attribute_loss(text, heads, [caption(random_scene(check_rng), check_rng) for _ in range(512)], device)
    log(f"text encoder reads captions: attribute accuracy {accuracy:.4f} in {time.perf_counter() - started:.0f} s")
    return text.requires_grad_(False), losses, accuracy


def _attribute_loss(text, heads, texts: list[str], device) -> tuple[torch.Tensor, float]:
    """Cross-entropy of every attribute at every end-of-text position, and the accuracy."""
    ids = token_ids(texts).to(device)
    hidden = text(ids).last_hidden_state  # [B, 77, W]
    is_end = ids == END_OF_TEXT
    tokens = hidden[is_end]  # every padding token, all batch items together
    owner = is_end.nonzero()[:, 0]
    targets = attribute_targets(texts)
    loss, correct, total = hidden.new_zeros(()), 0, 0
    for name, head in heads.items():
        wanted = targets[name].to(device)[owner]
        logits = head(tokens)
        loss = loss + F.cross_entropy(logits, wanted)
        correct += int((logits.argmax(-1) == wanted).sum())
        total += len(wanted)
    return loss, correct / total
