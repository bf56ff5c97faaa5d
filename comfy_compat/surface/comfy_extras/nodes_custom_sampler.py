"""ComfyUI's `comfy_extras.nodes_custom_sampler`: the noise and guider objects packs build
directly (Noise_RandomNoise, Noise_EmptyNoise, Guider_Basic); the custom-sampling node
classes themselves are not provided yet."""
from __future__ import annotations

from typing import Any

import torch

import comfy.sample
import comfy.samplers


class Noise_EmptyNoise:
    def __init__(self) -> None:
        self.seed = 0

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        samples = input_latent["samples"]
        return torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")


class Noise_RandomNoise:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        samples = input_latent["samples"]
        return comfy.sample.prepare_noise(samples, self.seed, input_latent.get("batch_index"))


class Guider_Basic(comfy.samplers.CFGGuider):
    def set_conds(self, positive: Any) -> None:
        self.inner_set_conds({"positive": positive})


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
