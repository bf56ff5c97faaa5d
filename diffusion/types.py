"""Shared value types of the diffusion core.

These are the values that travel between nodes (MODEL, CLIP, VAE, CONDITIONING, LATENT)
and the small records the samplers hand to progress callbacks. Nothing here imports
the node system or the executor.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Optional

import torch


class ModelFamily(str, enum.Enum):
    """Which Stable Diffusion generation a checkpoint belongs to."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"


class PredictionType(str, enum.Enum):
    """What the UNet predicts: the noise (epsilon) or the velocity (v)."""

    EPSILON = "epsilon"
    V_PREDICTION = "v_prediction"


# CONDITIONING: a list of [embedding [1, tokens, dim], extras] pairs, as in ComfyUI.
# extras may hold "pooled_output" ([1, dim] or None) and, later, area/mask/strength keys.
Conditioning = list


@dataclass(frozen=True)
class StepInfo:
    """What a sampler reports after each step (k-diffusion style callback)."""

    step: int  # 0-based index of the step just finished
    total: int  # number of steps in this run
    x: torch.Tensor  # current noisy latent (model space, scaled)
    denoised: torch.Tensor  # the model's current estimate of the clean latent (model space)
    sigma: float


StepCallback = Callable[[StepInfo], None]


class UNetLike:
    """The protocol a MODEL value follows; samplers only use these members.

    Concrete class: diffusion.model.DiffusionModel. Tests may pass a small fake.
    """

    family: ModelFamily
    prediction_type: PredictionType
    latent_scale: float  # multiply VAE latents by this before sampling, divide after
    alphas_cumprod: torch.Tensor  # [1000] float32 on CPU: the training noise schedule
    device: torch.device
    dtype: torch.dtype
    discrete_timesteps: bool = False  # True: the UNet gets the nearest whole training timestep

    def apply_model(
        self,
        x: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        pooled: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Run the UNet once: x is the (already c_in-scaled) input [B,C,h,w] in float32,
        timestep a float tensor [B] in 0..999, context [B,T,D], pooled [B,P] (SDXL only).
        Returns the raw prediction (epsilon or v) as float32 on x's device."""
        raise NotImplementedError
