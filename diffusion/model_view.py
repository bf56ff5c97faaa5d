"""What a loaded model says about itself: its latent format, its noise schedule and
parameterisation, its UNet settings, and a denoising call in sigma form.

Node packs written for ComfyUI read these through `model.model` (latent_format,
model_sampling, model_config, model_type, diffusion_model, apply_model); the same
objects answer the app's own questions, so the numbers cannot drift apart.
"""
from __future__ import annotations

import enum
import math
from typing import Any, Optional

import torch

from .previews import rgb_factors
from .parameterization import DiscreteSchedule, EpsPrediction, Schedule, VPrediction
from .types import ModelFamily, PredictionType


class ModelType(enum.Enum):
    EPS = 1
    V_PREDICTION = 2
    V_PREDICTION_EDM = 3
    STABLE_CASCADE = 4
    EDM = 5
    FLOW = 6
    V_PREDICTION_CONTINUOUS = 7
    FLUX = 8
    IMG_TO_IMG = 9
    FLOW_COSMOS = 10


class LatentFormat:
    """How VAE latents relate to the model's working space, and their preview colours."""

    latent_dimensions = 2
    taesd_decoder_name: Optional[str] = None

    def __init__(self, family: ModelFamily, scale_factor: float, latent_channels: int = 4,
                 rgb: Optional[tuple] = None) -> None:
        self.family = ModelFamily(family)
        self.scale_factor = float(scale_factor)
        self.latent_channels = int(latent_channels)
        factors, bias = rgb or rgb_factors(self.family)
        self.latent_rgb_factors = [list(row) for row in factors]
        self.latent_rgb_factors_bias = list(bias) if any(bias) else None
        self.latent_rgb_factors_reshape = None
        self.taesd_decoder_name = "taesdxl_decoder" if self.family == ModelFamily.SDXL else "taesd_decoder"

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        return latent * self.scale_factor

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        return latent / self.scale_factor


class ModelSampling:
    """A MODEL's noise schedule and parameterisation in k-diffusion's sigma form (ComfyUI's
    `model_sampling` object): a Schedule (sigma table, sigma <-> UNet timestep) and a
    prediction strategy (eps, v, x0, EDM, LCM) from diffusion/parameterization.py."""

    def __init__(self, alphas_cumprod: Optional[torch.Tensor] = None, prediction: Any = PredictionType.EPSILON,
                 schedule: Optional[Schedule] = None, strategy: Optional[EpsPrediction] = None) -> None:
        self.schedule = schedule if schedule is not None else DiscreteSchedule(alphas_cumprod)
        if strategy is None:
            strategy = VPrediction() if PredictionType(prediction) == PredictionType.V_PREDICTION else EpsPrediction()
        self.strategy = strategy
        self.sigmas = self.schedule.sigmas
        self.log_sigmas = self.sigmas.log()
        self.prediction = (PredictionType.V_PREDICTION if isinstance(strategy, VPrediction)
                           else PredictionType.EPSILON)

    @property
    def sigma_data(self) -> float:
        return self.strategy.sigma_data

    @property
    def discrete(self) -> bool:
        return self.schedule.discrete

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: Any) -> torch.Tensor:
        return self.schedule.timestep(sigma)

    def sigma(self, timestep: Any) -> torch.Tensor:
        return self.schedule.sigma(timestep)

    def percent_to_sigma(self, percent: float) -> float:
        return self.schedule.percent_to_sigma(percent)

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.strategy.calculate_input(_column(sigma, noise), noise)

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                           model_input: torch.Tensor) -> torch.Tensor:
        return self.strategy.calculate_denoised(_column(sigma, model_output), model_output, model_input,
                                                self.schedule)

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        s = _column(sigma, noise)
        scale = torch.sqrt(1.0 + s * s) if max_denoise else s
        return noise * scale + latent_image

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return latent


def _column(sigma: Any, like: torch.Tensor) -> torch.Tensor:
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    return s.view(s.shape[:1] + (1,) * (like.ndim - 1))


class ModelConfig:
    """The UNet's settings in the shape ComfyUI names them (unet_config) plus the latent format."""

    def __init__(self, unet: torch.nn.Module, latent_format: LatentFormat) -> None:
        cfg = unet.config
        self.latent_format = latent_format
        self.unet_config = {
            "in_channels": int(cfg.in_channels), "out_channels": int(cfg.out_channels),
            "model_channels": int(cfg.block_out_channels[0]), "context_dim": int(cfg.cross_attention_dim),
            "num_res_blocks": int(cfg.layers_per_block),
            "channel_mult": [c // cfg.block_out_channels[0] for c in cfg.block_out_channels],
            "adm_in_channels": getattr(cfg, "projection_class_embeddings_input_dim", None),
            "use_linear_in_transformer": bool(getattr(cfg, "use_linear_projection", False)),
        }
        self.unet_extra_config: dict = {}
        self.sampling_settings: dict = {}
        self.manual_cast_dtype = None
        self.custom_operations = None
        self.optimizations: dict = {}
        self.memory_usage_factor = 2.0


class BaseModelView:
    """`model.model` of a MODEL value: the UNet with its schedule and latent format."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        self.latent_format = LatentFormat(owner.family, owner.latent_scale, owner.in_channels
                                          if owner.in_channels == 4 else 4, rgb=rgb_factors(owner))
        self.model_sampling = ModelSampling(owner.alphas_cumprod, owner.prediction_type)
        self.model_config = ModelConfig(owner.unet, self.latent_format)
        self.model_type = (ModelType.V_PREDICTION if owner.prediction_type == PredictionType.V_PREDICTION
                           else ModelType.EPS)
        self.diffusion_model = owner.unet
        self.manual_cast_dtype = None
        self.memory_usage_factor = 2.0
        self.device = owner.device

    def get_dtype(self) -> torch.dtype:
        return self._owner.dtype

    def process_latent_in(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_in(latent)

    def process_latent_out(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_out(latent)

    def memory_required(self, input_shape: Any, cond_shapes: Any = None) -> int:
        elements = math.prod(int(d) for d in input_shape)
        return int(elements * 4 * 1.5 * 1024)

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, c_concat: Optional[torch.Tensor] = None,
                    c_crossattn: Optional[torch.Tensor] = None, control: Any = None,
                    transformer_options: Optional[dict] = None, y: Optional[torch.Tensor] = None,
                    **_: Any) -> torch.Tensor:
        """The denoised estimate for x at sigma `t` (ComfyUI's convention: t is sigma)."""
        sampling = self._owner.get_model_object("model_sampling")
        scaled = sampling.calculate_input(t, x)
        if c_concat is not None:
            scaled = torch.cat([scaled, c_concat.to(scaled)], dim=1)
        timestep = sampling.timestep(t.detach().cpu())
        timestep = (timestep.round() if sampling.discrete else timestep).to(x.device)
        extra = {"control": control} if control else {}
        out = self._owner.apply_model(scaled, timestep, c_crossattn, y, **extra)
        return sampling.calculate_denoised(t, out.to(x.dtype), x)

    def state_dict(self) -> dict:
        from .export import unet_to_original

        return unet_to_original(self._owner.unet)
