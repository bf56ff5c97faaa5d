"""Recolour pairs: the same drawn shape in two colourings, for teaching img2img edits.

Plain noise-prediction training never shows the model a noisy picture whose colours
disagree with its caption, so at img2img time ("a blue square" over a red square) it may
explain the red shape away as noise and draw the blue one somewhere else. A share of the
UNet's training samples therefore start from the noised latent of one colouring and are
scored against the other colouring with its caption: the model learns to keep the
geometry the noisy latent shows and to take the colours from the prompt. Pair samples
use the middle noise levels (t 350 to 650), where img2img at denoise 0.6 settles colours.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from training.architecture import IMAGE_SIZE, LATENT_SCALE
from training.common import encode_images
from training.shapes_data import Scene, caption, draw_scene, parse_prompt, random_scene, recoloured, scene_box, to_tensor

PAIR_TIMESTEPS = (350, 650)  # t range of pair samples (SD1 schedule: denoise 0.35 .. 0.65)


@dataclass
class RecolourPairs:
    """Scaled latents of both colourings [N,4,h,w] and their scenes."""

    first: torch.Tensor
    second: torch.Tensor
    first_scenes: list[Scene]
    second_scenes: list[Scene]

    def __len__(self) -> int:
        return len(self.first)

    def sample(self, count: int, generator: torch.Generator, rng: random.Random
               ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """(source latents, target latents, target captions) for `count` random pairs,
        either way round."""
        index = torch.randint(0, len(self), (count,), generator=generator).tolist()
        flip = torch.rand(count, generator=generator) < 0.5
        sources, targets, texts = [], [], []
        for i, swap in zip(index, flip.tolist()):
            source, target = (self.second, self.first) if swap else (self.first, self.second)
            scene = (self.first_scenes if swap else self.second_scenes)[i]
            other = (self.second_scenes if swap else self.first_scenes)[i]
            sources.append(source[i])
            targets.append(target[i])
            texts.append(pair_caption(scene, other, rng))
        return torch.stack(sources), torch.stack(targets), texts


def noise_target(noise: torch.Tensor, source: torch.Tensor, target: torch.Tensor, alpha_bar: torch.Tensor
                 ) -> torch.Tensor:
    """The epsilon that, taken out of x_t = sqrt(a) * source + sqrt(1 - a) * noise, leaves
    `target`: plain `noise` when source is target."""
    return noise + (alpha_bar / (1 - alpha_bar)).sqrt() * (source - target)


def pair_caption(target: Scene, source: Scene, rng: random.Random) -> str:
    """A caption of the target that names every colour that changed (a caption that left
    out a changed background would ask for something the model cannot know)."""
    while True:
        text = caption(target, rng)
        if target.background == source.background or "background" in parse_prompt(text):
            return text


def encode_pairs(vae, count: int, seed: int, device: torch.device, dtype: torch.dtype | None = None
                 ) -> RecolourPairs:
    """Draw and encode `count` pairs, both colourings of a scene in the same chunk."""
    rng = random.Random(seed)
    firsts, seconds, first_scenes, second_scenes = [], [], [], []
    for chunk in range(math.ceil(count / 8)):
        images = []
        for _ in range(min(8, count - chunk * 8)):
            scene = random_scene(rng)
            other = recoloured(scene, rng)
            box = scene_box(scene, IMAGE_SIZE, rng)
            images += [draw_scene(scene, box, IMAGE_SIZE), draw_scene(other, box, IMAGE_SIZE)]
            first_scenes.append(scene)
            second_scenes.append(other)
        mean = encode_images(vae, to_tensor(images), device, dtype) * LATENT_SCALE
        firsts.append(mean[0::2])
        seconds.append(mean[1::2])
    return RecolourPairs(torch.cat(firsts), torch.cat(seconds), first_scenes, second_scenes)
