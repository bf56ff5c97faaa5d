"""SD2.1 unCLIP: image embeddings as the UNet's class input, and unCLIP checkpoints.

An unCLIP UNet is a diffusers UNet2DConditionModel with ``class_embed_type="projection"``:
its class input is ``[noised image embedding, sinusoidal embedding of the noise level]``
(ADM width = 2 x the CLIP vision projection width). The embedding is noised like a
diffusion sample on a squared-cosine schedule (CLIPEmbeddingNoiseAugmentation), by the
`noise_augmentation` fraction of that schedule, then scaled by the entry's strength.
Several embeddings (images or unCLIPConditioning nodes) are summed and the sum is
noised again at MERGE_NOISE_AUGMENTATION.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from typing import Optional, Union

import torch

MAX_NOISE_LEVEL = 1000
MERGE_NOISE_AUGMENTATION = 0.05
DEFAULT_SEED = -10  # the augmentation noise is seeded, so every UNet call of a run sees the same
SEED_OFFSET = -10  # with a sampling's seed: that seed minus 10, as ComfyUI
UNCLIP_VISION_PREFIX = "embedder.model.visual."


@functools.lru_cache(maxsize=4)
def squared_cosine_alphas_cumprod(steps: int = MAX_NOISE_LEVEL, max_beta: float = 0.999) -> torch.Tensor:
    """Cumulative alphas of the "squaredcos_cap_v2" schedule (betas capped at max_beta)."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta)
                          for i in range(steps)], dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0).float()


def sinusoidal_embedding(levels: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[N] levels -> [N, dim]: cosines then sines of geometric frequencies (LDM's layout)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = levels.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


@dataclass
class NoiseAugmentor:
    """Noises image embeddings [N, D] to a level of the schedule. The data statistics are
    identity unless a checkpoint gives them (real unCLIP files do not)."""

    dim: int
    alphas_cumprod: torch.Tensor = field(default_factory=squared_cosine_alphas_cumprod)
    data_mean: Optional[torch.Tensor] = None
    data_std: Optional[torch.Tensor] = None

    @property
    def max_noise_level(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def level(self, fraction: float) -> int:
        return round((self.max_noise_level - 1) * fraction)

    def __call__(self, embeds: torch.Tensor, level: int, seed: Optional[int] = None) -> torch.Tensor:
        """[N, D] -> [N, 2D]: the noised embedding and the embedding of its noise level."""
        x = embeds.float().reshape(-1, self.dim)
        mean = self.data_mean if self.data_mean is not None else torch.zeros(self.dim)
        std = self.data_std if self.data_std is not None else torch.ones(self.dim)
        x = (x - mean) / std
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        a = self.alphas_cumprod[level]
        x = a.sqrt() * x + (1 - a).sqrt() * noise
        x = x * std + mean
        levels = torch.full((x.shape[0],), level, dtype=torch.long)
        return torch.cat([x, sinusoidal_embedding(levels, self.dim)], dim=1)


def unclip_adm(unclip: Optional[list], augmentor: NoiseAugmentor, merge: float = MERGE_NOISE_AUGMENTATION,
               seed: int = DEFAULT_SEED) -> torch.Tensor:
    """The class input [1, 2D] for one conditioning's `unclip_conditioning` list (zeros
    when there is none: the model then runs without image guidance); several embeddings
    are summed and the sum noised again at the `merge` fraction."""
    if not unclip:
        return torch.zeros(1, 2 * augmentor.dim)
    rows = []
    for item in unclip:
        for embed in item["clip_vision_output"].image_embeds:
            level = augmentor.level(float(item["noise_augmentation"]))
            rows.append(augmentor(embed.reshape(1, -1), level, seed) * float(item["strength"]))
    if len(rows) == 1:
        return rows[0]
    total = torch.stack(rows).sum(0)
    return augmentor(total[:, :augmentor.dim], augmentor.level(merge), seed)


def augmentation_seed(seed: Optional[int]) -> int:
    """The noise seed of a sampling's image embeddings: its seed minus 10 (0 minus 10 without one)."""
    return DEFAULT_SEED if seed is None else int(seed) + SEED_OFFSET


def sdxl_pooled(unclip: list, width: int, seed: Optional[int] = None) -> torch.Tensor:
    """SDXL with image embeddings (Revision): the noised embeddings replace the pooled
    text input [1, width]; several are merged without extra noise."""
    return unclip_adm(unclip, NoiseAugmentor(width), merge=0.0, seed=augmentation_seed(seed))[:, :width]


def is_unclip_unet(unet: torch.nn.Module) -> bool:
    return getattr(unet.config, "class_embed_type", None) == "projection"


def class_labels(model, unclip: Optional[list], batch: int, seed: Optional[int] = None) -> torch.Tensor:
    """The class input [batch, 2D] of an unCLIP DiffusionModel for one call."""
    augmentor = getattr(model, "noise_augmentor", None)
    if augmentor is None:
        width = int(model.unet.config.projection_class_embeddings_input_dim)
        augmentor = NoiseAugmentor(width // 2)
    adm = unclip_adm(unclip, augmentor, seed=augmentation_seed(seed))
    return adm.expand(batch, -1) if adm.shape[0] == 1 else adm


# ----------------------------------------------------------------------------- loading


def load_unclip_checkpoint(path: Union[str, os.PathLike], *, device=None, dtype=None):
    """(MODEL, CLIP, VAE, CLIP_VISION) from one SD2.1 unCLIP single-file checkpoint."""
    from pathlib import Path

    from diffusers import UNet2DConditionModel

    from . import convert
    from .checkpoint_io import read_state_dict
    from .clip_vision import clip_vision_from_state_dict
    from .families import UNET_PREFIX, VAE_PREFIX, detect_family
    from .loader import _resolve, build_text_encoders, hub_off, instantiate, vae_from_state_dict
    from .memory_manager import MANAGER
    from .model import DiffusionModel
    from .text_encoder import TextEncoder
    from .types import ModelFamily, PredictionType
    from .vae import VAE

    hub_off()
    device, dtype = _resolve(device, dtype)
    name = Path(path).name
    sd = read_state_dict(path)
    label = UNET_PREFIX + "label_emb.0."
    plain = {k: v for k, v in sd.items() if not k.startswith(label)}
    family = detect_family(plain)
    adm = sd.get(label + "0.weight")
    if adm is None or family == ModelFamily.SDXL:
        raise ValueError(f"{name} is not an unCLIP checkpoint (no class embedding label_emb)")
    config = convert.unet_config(plain, family)
    config.update(class_embed_type="projection", projection_class_embeddings_input_dim=int(adm.shape[1]))
    weights = convert.convert_unet(sd, config)
    unet = instantiate(lambda: UNet2DConditionModel.from_config(config), weights, dtype, "unCLIP UNet")
    unet = MANAGER.place(unet, device)
    vae = MANAGER.place(vae_from_state_dict(convert.strip_prefix(sd, VAE_PREFIX), family, dtype), device)
    encoders = build_text_encoders(sd, family, device, dtype)
    model = DiffusionModel(unet, family, PredictionType.V_PREDICTION, device, dtype)
    model.noise_augmentor = NoiseAugmentor(int(adm.shape[1]) // 2)
    vision = clip_vision_from_state_dict(sd, UNCLIP_VISION_PREFIX, device=device, dtype=dtype)
    return model, TextEncoder(family, encoders, device, dtype), VAE(vae, device, dtype), vision
