"""The MODEL socket value: a diffusers UNet behind the small `UNetLike` protocol.

Samplers see only `apply_model` and a few numbers (prediction type, latent scale, the
training noise schedule), so they never depend on diffusers' calling conventions, and
SDXL's extra conditioning (pooled text + size ids) is built here in one place.
"""
from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence, Union

import torch

from . import x4_upscaler
from .families import LATENT_SCALES, SDXL_REFINER_SIZE_IDS, SDXL_SIZE_IDS
from .gligen import applied as gligen_applied
from .interrupts import check_blocks, raise_if_interrupted
from .key_patches import KeyPatchable, unet_key_names
from .model_options import PatchableModel
from .patching import WeightPatch, patched
from .precision import FP8, upcast_per_layer
from .speed import unet_patches_for
from .unet_patches import UNetPatch
from .unet_patches import applied as unet_patches_applied
from .types import ModelFamily, PredictionType, UNetLike
from .unclip import class_labels as unclip_class_labels
from .unclip import is_unclip_unet, sdxl_pooled
from .t2i_adapter import adapter_additions, features_added
from .x4_upscaler import is_x4_upscaler_unet

NUM_TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
VAE_DOWNSCALE = 8
REFINER_SCORE, REFINER_NEGATIVE_SCORE = 6.0, 2.5


def scaled_linear_alphas_cumprod(
    num_timesteps: int = NUM_TRAIN_TIMESTEPS, beta_start: float = BETA_START, beta_end: float = BETA_END
) -> torch.Tensor:
    """SD's training schedule, computed exactly as diffusers' DDPMScheduler("scaled_linear")."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def _batch(t: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """Broadcast a batch-1 tensor to n rows; refuse other mismatches."""
    if t.shape[0] == n:
        return t
    if t.shape[0] == 1:
        return t.expand(n, *t.shape[1:])
    raise ValueError(f"{what} has batch {t.shape[0]}, the latent has {n}")


class DiffusionModel(PatchableModel, KeyPatchable, UNetLike):
    """A loaded UNet with its family facts; `apply_model` runs one denoising call.

    Values share the UNet: `clone()`, `with_patches()` and the sampling hooks of
    model_options (PatchableModel) make new values without touching the weights."""

    def __init__(
        self,
        unet: torch.nn.Module,
        family: ModelFamily,
        prediction_type: PredictionType,
        device: torch.device,
        dtype: torch.dtype,
        size_ids: int = SDXL_SIZE_IDS,
    ):
        self.unet = unet.eval().requires_grad_(False)
        self.family = ModelFamily(family)
        self.prediction_type = PredictionType(prediction_type)
        self.size_ids = int(size_ids)  # SDXL: 6 size embeddings, the refiner's 5 (sizes + score)
        self.x4_upscaler = is_x4_upscaler_unet(self.unet)
        if self.x4_upscaler:
            self.latent_scale = x4_upscaler.LATENT_SCALE
            self.alphas_cumprod = scaled_linear_alphas_cumprod(beta_start=x4_upscaler.BETA_START,
                                                               beta_end=x4_upscaler.BETA_END)
        else:
            self.latent_scale = LATENT_SCALES[self.family]
            self.alphas_cumprod = scaled_linear_alphas_cumprod()
        self.device = torch.device(device)
        self.dtype = dtype
        self.discrete_timesteps = True
        self.patches: tuple[WeightPatch, ...] = ()
        self.unet_patches: tuple[UNetPatch, ...] = unet_patches_for(self.device)  # --compile
        self._init_options()
        check_blocks(self.unet)  # one step at a large size is long: stop between its blocks
        first = next(self.unet.parameters(), None)
        if first is not None and first.dtype in FP8:  # fp8 storage: each layer computes upcast
            upcast_per_layer(self.unet, dtype)

    @property
    def in_channels(self) -> int:
        """UNet input channels: 4 for ordinary models, 9 for inpainting ones (+ mask + image),
        7 for the x4 upscaler (+ the low-resolution image)."""
        return int(self.unet.config.in_channels)

    @property
    def is_sdxl_refiner(self) -> bool:
        return self.family == ModelFamily.SDXL and self.size_ids == SDXL_REFINER_SIZE_IDS

    def with_patches(self, patches: Sequence[WeightPatch]) -> "DiffusionModel":
        """A MODEL value sharing this UNet, with `patches` added after the existing ones."""
        clone = self.clone()
        clone.patches = self.patches + tuple(patches)
        return clone

    def with_unet_patch(self, patch: UNetPatch) -> "DiffusionModel":
        """A MODEL value sharing this UNet whose sampling runs with `patch` applied (after the
        ones it already has)."""
        clone = self.clone()
        clone.unet_patches = self.unet_patches + (patch,)
        return clone

    def clone(self) -> "DiffusionModel":
        twin = PatchableModel.clone(self)
        twin.__dict__.pop("_view", None)  # the view answers for one value
        return twin

    def _key_names(self) -> dict[str, str]:
        return unet_key_names(self.unet)

    def _component_of(self, param: str) -> tuple[str, str]:
        return "unet", param

    def _own_state(self) -> dict[str, torch.Tensor]:
        return self.unet.state_dict()

    @contextlib.contextmanager
    def patched(self):
        """Context in which the shared UNet carries this value's weight patches (patching.py)
        and computes with its UNet patches (unet_patches.py)."""
        with patched(self.unet, self.patches), unet_patches_applied(self.unet, self.unet_patches):
            yield

    @property
    def pooled_dim(self) -> Optional[int]:
        """Width of the pooled text embedding an SDXL UNet expects (None for SD1/SD2)."""
        if self.family != ModelFamily.SDXL:
            return None
        cfg = self.unet.config
        return int(cfg.projection_class_embeddings_input_dim - self.size_ids * cfg.addition_time_embed_dim)

    def sdxl_time_ids(self, batch: int, height: int, width: int, size: Optional[dict] = None) -> torch.Tensor:
        """(orig_h, orig_w, crop_top, crop_left, target_h, target_w) in pixels, per row, from a
        CLIPTextEncodeSDXL's sizes where given (the latent's size otherwise). The refiner's is
        (h, w, crop_top, crop_left, aesthetic score), the score 6 by default and 2.5 for the
        negative prompt, as ComfyUI's."""
        size = size or {}
        height, width = size.get("height", height), size.get("width", width)
        values = [height, width, size.get("crop_h", 0), size.get("crop_w", 0)]
        if self.is_sdxl_refiner:
            default_score = REFINER_NEGATIVE_SCORE if size.get("prompt_type") == "negative" else REFINER_SCORE
            values.append(size.get("aesthetic_score", default_score))
        else:
            values += [size.get("target_height", height), size.get("target_width", width)]
        ids = torch.tensor([float(v) for v in values], dtype=torch.float32)
        return ids.unsqueeze(0).repeat(batch, 1)

    def _time_id_rows(self, n: int, height: int, width: int, size_cond) -> torch.Tensor:
        """Time ids for n rows: one size dict for all, or one per equal share of the rows (the
        entries of a batched call)."""
        sizes = size_cond if isinstance(size_cond, (list, tuple)) and size_cond else [size_cond]
        if n % len(sizes):
            raise ValueError(f"{len(sizes)} size conditionings do not divide {n} rows")
        return torch.cat([self.sdxl_time_ids(n // len(sizes), height, width, size) for size in sizes])

    def apply_model(
        self,
        x: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        pooled: Optional[torch.Tensor] = None,
        control: Optional[Sequence[tuple[Any, torch.Tensor, float]]] = None,
        size_cond: Union[dict, Sequence[dict], None] = None,
        unclip: Optional[list] = None,
        gligen: Optional[tuple] = None,
        noise_augmentation: float = 0.0,
        seed: Optional[int] = None,
    ) -> torch.Tensor:
        """One UNet call (see UNetLike). SDXL without `pooled` gets zeros, as in ComfyUI.

        `control`: (ControlNet, hint pixels [n,3,8h,8w], strength) triples whose residuals
        are summed into the UNet's skip connections, and (T2I-Adapter, [(input block,
        feature)], strength) ones whose features are added after those blocks. `size_cond`: SDXL's size conditioning
        (diffusion/cond_extras.py), one dict or one per entry of the call; `unclip`, `gligen`:
        an unCLIP model's image embeddings and GLIGEN's boxes, the extras of the conditioning
        this call runs; `noise_augmentation`: the x4 upscaler's image noise (its class label);
        `seed`: the sampling's, which seeds the image embeddings' noise as in ComfyUI."""
        n = x.shape[0]
        timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        timestep = _batch(timestep, n, "timestep").to(self.device)
        sample = x.to(self.device, self.dtype)
        hidden = _batch(context, n, "context").to(self.device, self.dtype)
        kwargs: dict[str, Any] = {}
        if self.family == ModelFamily.SDXL:
            if unclip:
                pooled = sdxl_pooled(unclip, self.pooled_dim, seed)
            if pooled is None:
                pooled = torch.zeros(1, self.pooled_dim)
            h, w = x.shape[-2] * VAE_DOWNSCALE, x.shape[-1] * VAE_DOWNSCALE
            kwargs["added_cond_kwargs"] = {
                "text_embeds": _batch(pooled, n, "pooled").to(self.device, self.dtype),
                "time_ids": self._time_id_rows(n, h, w, size_cond).to(self.device, self.dtype),
            }
        if self.x4_upscaler:
            level = x4_upscaler.noise_level(noise_augmentation)
            kwargs["class_labels"] = torch.full((n,), level, dtype=torch.long, device=self.device)
        if is_unclip_unet(self.unet):
            kwargs["class_labels"] = unclip_class_labels(self, unclip, n, seed).to(self.device, self.dtype)
        adapters = [c for c in control or () if getattr(c[0], "is_adapter", False)]
        nets = [c for c in control or () if not getattr(c[0], "is_adapter", False)]
        if nets:
            kwargs.update(self._control_residuals(sample, timestep, hidden, kwargs.get("added_cond_kwargs"), nets))
        with torch.inference_mode(), gligen_applied(self.unet, gligen, sample.shape, self.device, self.dtype) as attention_kwargs, \
                features_added(self.unet, adapter_additions(adapters)):
            if attention_kwargs is not None:
                kwargs["cross_attention_kwargs"] = attention_kwargs
            out = self.unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False, **kwargs)[0]
        return out.to(x.device, torch.float32)

    def _control_residuals(self, sample, timestep, hidden, added, control) -> dict[str, Any]:
        """Sum of every ControlNet's residuals times its strength, in the UNet's dtype."""
        down_total: Optional[list[torch.Tensor]] = None
        mid_total: Optional[torch.Tensor] = None
        for net, hint, strength in control:
            raise_if_interrupted()
            check_blocks(net.module)
            channels = int(net.module.config.in_channels)
            down, mid = net.residuals(sample[:, :channels], timestep, hidden, hint, added)
            down = [d.to(self.device) * strength for d in down]
            mid = mid.to(self.device) * strength
            down_total = down if down_total is None else [a + b for a, b in zip(down_total, down)]
            mid_total = mid if mid_total is None else mid_total + mid
        return {"down_block_additional_residuals": [d.to(self.dtype) for d in down_total],
                "mid_block_additional_residual": mid_total.to(self.dtype)}

    def __repr__(self) -> str:
        return (
            f"DiffusionModel({self.family.value}, {self.prediction_type.value}, "
            f"device={self.device}, dtype={self.dtype})"
        )
