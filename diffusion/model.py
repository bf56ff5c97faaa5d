"""The MODEL socket value: a diffusers UNet behind the small `UNetLike` protocol.

Samplers see only `apply_model` and a few numbers (prediction type, latent scale, the
training noise schedule), so they never depend on diffusers' calling conventions, and
SDXL's extra conditioning (pooled text + size ids) is built here in one place.
"""
from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import torch

from .families import LATENT_SCALES
from .gligen import applied as gligen_applied
from .interrupts import check_blocks, raise_if_interrupted
from .key_patches import KeyPatchable, unet_key_names
from .model_options import PatchableModel
from .patching import WeightPatch, patched
from .unet_patches import UNetPatch
from .unet_patches import applied as unet_patches_applied
from .types import ModelFamily, PredictionType, UNetLike
from .unclip import class_labels as unclip_class_labels
from .unclip import is_unclip_unet, sdxl_pooled

NUM_TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
VAE_DOWNSCALE = 8


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
    ):
        self.unet = unet.eval().requires_grad_(False)
        self.family = ModelFamily(family)
        self.prediction_type = PredictionType(prediction_type)
        self.latent_scale = LATENT_SCALES[self.family]
        self.alphas_cumprod = scaled_linear_alphas_cumprod()
        self.device = torch.device(device)
        self.dtype = dtype
        self.discrete_timesteps = True
        self.patches: tuple[WeightPatch, ...] = ()
        self.unet_patches: tuple[UNetPatch, ...] = ()
        self._init_options()
        check_blocks(self.unet)  # one step at a large size is long: stop between its blocks

    @property
    def in_channels(self) -> int:
        """UNet input channels: 4 for ordinary models, 9 for inpainting ones (+ mask + image)."""
        return int(self.unet.config.in_channels)

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
        return int(cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim)

    def sdxl_time_ids(self, batch: int, height: int, width: int, size: Optional[dict] = None) -> torch.Tensor:
        """(orig_h, orig_w, crop_top, crop_left, target_h, target_w) in pixels, per row, from a
        CLIPTextEncodeSDXL's sizes where given (the latent's size otherwise). A refiner's size
        conditioning (it carries `aesthetic_score`) is (h, w, crop_top, crop_left, score)."""
        size = size or {}
        if "aesthetic_score" in size:
            values = [size.get("height", height), size.get("width", width), size.get("crop_h", 0),
                      size.get("crop_w", 0), size["aesthetic_score"]]
        else:
            values = [size.get("height", height), size.get("width", width), size.get("crop_h", 0),
                      size.get("crop_w", 0), size.get("target_height", height), size.get("target_width", width)]
        ids = torch.tensor([float(v) for v in values], dtype=torch.float32)
        return ids.unsqueeze(0).repeat(batch, 1)

    def apply_model(
        self,
        x: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        pooled: Optional[torch.Tensor] = None,
        control: Optional[Sequence[tuple[Any, torch.Tensor, float]]] = None,
        size_cond: Optional[dict] = None,
        unclip: Optional[list] = None,
        gligen: Optional[tuple] = None,
    ) -> torch.Tensor:
        """One UNet call (see UNetLike). SDXL without `pooled` gets zeros, as in ComfyUI.

        `control`: (ControlNet, hint pixels [n,3,8h,8w], strength) triples whose residuals
        are summed into the UNet's skip connections. `size_cond`: SDXL's size conditioning
        (diffusion/cond_extras.py); `unclip`, `gligen`: an unCLIP model's image embeddings and
        GLIGEN's boxes, the extras of the conditioning this call runs."""
        n = x.shape[0]
        timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        timestep = _batch(timestep, n, "timestep").to(self.device)
        sample = x.to(self.device, self.dtype)
        hidden = _batch(context, n, "context").to(self.device, self.dtype)
        kwargs: dict[str, Any] = {}
        if self.family == ModelFamily.SDXL:
            if unclip:
                pooled = sdxl_pooled(unclip, self.pooled_dim)
            if pooled is None:
                pooled = torch.zeros(1, self.pooled_dim)
            h, w = x.shape[-2] * VAE_DOWNSCALE, x.shape[-1] * VAE_DOWNSCALE
            kwargs["added_cond_kwargs"] = {
                "text_embeds": _batch(pooled, n, "pooled").to(self.device, self.dtype),
                "time_ids": self.sdxl_time_ids(n, h, w, size_cond).to(self.device, self.dtype),
            }
        if is_unclip_unet(self.unet):
            kwargs["class_labels"] = unclip_class_labels(self, unclip, n).to(self.device, self.dtype)
        if control:
            kwargs.update(self._control_residuals(sample, timestep, hidden, kwargs.get("added_cond_kwargs"), control))
        with torch.inference_mode(), gligen_applied(self.unet, gligen, sample.shape) as attention_kwargs:
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
