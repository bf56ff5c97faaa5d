"""ComfyUI's `comfy.utils`: progress bars, resizing, tiling, safe file loading, state-dict helpers."""
from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from comfy_compat import runtime

log = logging.getLogger(__name__)
PROGRESS_BAR_ENABLED = True
PROGRESS_BAR_HOOK: Optional[Callable] = None


def set_progress_bar_enabled(enabled: bool) -> None:
    global PROGRESS_BAR_ENABLED
    PROGRESS_BAR_ENABLED = bool(enabled)


def set_progress_bar_global_hook(function: Optional[Callable]) -> None:
    """A hook that sees every update (value, total, preview, node_id=...) besides the app."""
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function


def _preview_image(preview: Any) -> Any:
    """ComfyUI passes previews as (format, PIL image, max size); the app takes the image."""
    if isinstance(preview, (tuple, list)) and len(preview) >= 2:
        return preview[1]
    return preview


class ProgressBar:
    """Step progress of the node running now, shown like a sampler's."""

    def __init__(self, total: int, node_id: Optional[str] = None) -> None:
        self.total = total
        self.current = 0
        self.node_id = node_id
        self.ctx = runtime.current()
        self.hook = PROGRESS_BAR_HOOK

    def update_absolute(self, value: int, total: Optional[int] = None, preview: Any = None) -> None:
        if total is not None:
            self.total = total
        value = min(value, self.total)
        self.current = value
        if self.ctx is not None:
            self.ctx.check_interrupted()  # progress updates are interrupt points, as in ComfyUI
            self.ctx.report_progress(int(value), int(self.total), _preview_image(preview))
        if self.hook is not None:
            self.hook(self.current, self.total, preview, node_id=self.node_id)

    def update(self, value: int) -> None:
        self.update_absolute(self.current + value)


# -- files ------------------------------------------------------------------------------

def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None, return_metadata: bool = False):
    """A checkpoint's state dict through the app's safe reader (safetensors, or weights-only
    pickles whatever `safe_load` says)."""
    from diffusion.checkpoint_io import read_state_dict

    sd = read_state_dict(ckpt)
    if device is not None:
        sd = {k: v.to(device) for k, v in sd.items()}
    if not return_metadata:
        return sd
    metadata = None
    if str(ckpt).lower().endswith((".safetensors", ".sft")):
        from safetensors import safe_open

        with safe_open(str(ckpt), framework="pt") as handle:
            metadata = handle.metadata()
    return sd, metadata


def save_torch_file(sd: dict, ckpt: str, metadata: Optional[dict] = None) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, str(ckpt), metadata=metadata)


def safetensors_header(path: str, max_size: int = 100 * 1024 * 1024) -> Optional[bytes]:
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size > max_size:
            return None
        return handle.read(size)


def calculate_parameters(sd: dict, prefix: str = "") -> int:
    return sum(v.nelement() for k, v in sd.items() if k.startswith(prefix))


def weight_dtype(sd: dict, prefix: str = "") -> Optional[torch.dtype]:
    counts: dict[torch.dtype, int] = {}
    for key, value in sd.items():
        if key.startswith(prefix):
            counts[value.dtype] = counts.get(value.dtype, 0) + value.numel()
    return max(counts, key=counts.get) if counts else None


def state_dict_key_replace(state_dict: dict, keys_to_replace: dict) -> dict:
    for old, new in keys_to_replace.items():
        if old in state_dict:
            state_dict[new] = state_dict.pop(old)
    return state_dict


def state_dict_prefix_replace(state_dict: dict, replace_prefix: dict, filter_keys: bool = False) -> dict:
    out = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            out[new + key[len(old):]] = state_dict.pop(key)
    return out


def convert_sd_to(state_dict: dict, dtype: torch.dtype) -> dict:
    return {k: v.to(dtype) for k, v in state_dict.items()}


# -- attributes by dotted path --------------------------------------------------------------

def get_attr(obj: Any, attr: str) -> Any:
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def set_attr(obj: Any, attr: str, value: Any) -> Any:
    *path, last = attr.split(".")
    for name in path:
        obj = getattr(obj, name)
    previous = getattr(obj, last)
    setattr(obj, last, value)
    return previous


def set_attr_param(obj: Any, attr: str, value: torch.Tensor) -> Any:
    return set_attr(obj, attr, torch.nn.Parameter(value, requires_grad=False))


def copy_to_param(obj: Any, attr: str, value: torch.Tensor) -> None:
    get_attr(obj, attr).data.copy_(value)


# -- batches ------------------------------------------------------------------------------

def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    if tensor.shape[dim] > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if tensor.shape[dim] < batch_size:
        repeats = [1] * tensor.ndim
        repeats[dim] = math.ceil(batch_size / tensor.shape[dim])
        return tensor.repeat(repeats).narrow(dim, 0, batch_size)
    return tensor


def resize_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Pick or repeat items evenly to reach `batch_size`."""
    from diffusion.cond_batch import resize_batch

    return resize_batch(tensor, batch_size)


# -- resizing -------------------------------------------------------------------------------

def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """[B,C,H,W] through Pillow's Lanczos filter."""
    from PIL import Image

    out = []
    for image in samples.movedim(1, -1).detach().cpu().float().numpy():
        picture = Image.fromarray(np.clip(image * 255.0, 0, 255).astype(np.uint8).squeeze())
        picture = picture.resize((width, height), resample=Image.LANCZOS)
        array = np.asarray(picture, dtype=np.float32) / 255.0
        out.append(torch.from_numpy(array if array.ndim == 3 else array[..., None]))
    return torch.stack(out).movedim(-1, 1).to(samples.device, samples.dtype)


from diffusion.latent_resize import bislerp  # noqa: E402  (ComfyUI's name, the app's resize)


def common_upscale(samples: torch.Tensor, width: int, height: int, upscale_method: str, crop: str) -> torch.Tensor:
    """Resize [B,C,H,W] (or [B,C,T,H,W]) with one of ComfyUI's methods; crop "center" first
    crops to the target's aspect ratio."""
    from nodes.resize import center_crop_to_aspect, resize

    if samples.ndim == 5:
        b, c, t = samples.shape[:3]
        flat = samples.movedim(2, 1).reshape(b * t, c, *samples.shape[-2:])
        scaled = common_upscale(flat, width, height, upscale_method, crop)
        return scaled.reshape(b, t, c, height, width).movedim(1, 2)
    if crop == "center":
        samples = center_crop_to_aspect(samples, width, height)
    if upscale_method == "bislerp":
        return bislerp(samples, width, height)
    if upscale_method == "lanczos":
        return lanczos(samples, width, height)
    return resize(samples, width, height, upscale_method)


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    rows = 1 if height <= tile_y else math.ceil((height - overlap) / (tile_y - overlap))
    cols = 1 if width <= tile_x else math.ceil((width - overlap) / (tile_x - overlap))
    return rows * cols


def tiled_scale(samples: torch.Tensor, function: Callable, tile_x: int = 64, tile_y: int = 64, overlap: int = 8,
                upscale_amount: float = 4, out_channels: int = 3, output_device: Any = "cpu",
                pbar: Optional[ProgressBar] = None) -> torch.Tensor:
    """`function` over overlapping tiles of [B,C,H,W], blended; the result is upscaled by
    `upscale_amount` (a tile edge of max(tile_x, tile_y))."""
    from diffusion.tiling import tiled_map

    def step(tile: torch.Tensor) -> torch.Tensor:
        out = function(tile)
        if pbar is not None:
            pbar.update(1)
        return out

    scale = Fraction(upscale_amount).limit_denominator(64)
    return tiled_map(samples, step, max(tile_x, tile_y), overlap, scale).to(output_device)


def reshape_mask(input_mask: torch.Tensor, output_shape) -> torch.Tensor:
    """A mask resized to a latent's [B,C,h,w] and repeated over its channels."""
    mask = input_mask.reshape((-1, 1, input_mask.shape[-2], input_mask.shape[-1]))
    mask = F.interpolate(mask, size=tuple(output_shape[2:]), mode="bilinear")
    if mask.shape[1] < output_shape[1]:
        mask = mask.repeat((1, output_shape[1]) + (1,) * (mask.ndim - 2))[:, :output_shape[1]]
    return resize_to_batch_size(mask, output_shape[0])


# Parameter names of SD UNet parts in the original (LDM) layout and in diffusers' layout.
UNET_MAP_ATTENTIONS = {"proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias", "norm.weight",
                       "norm.bias"}
TRANSFORMER_BLOCKS = {f"{part}.{kind}" for part in ("norm1", "norm2", "norm3") for kind in ("weight", "bias")} | {
    f"attn{i}.{name}.weight" for i in (1, 2) for name in ("to_q", "to_k", "to_v")} | {
    f"attn{i}.to_out.0.{kind}" for i in (1, 2) for kind in ("weight", "bias")} | {
    "ff.net.0.proj.weight", "ff.net.0.proj.bias", "ff.net.2.weight", "ff.net.2.bias"}
UNET_MAP_RESNET = {
    "in_layers.2.weight": "conv1.weight", "in_layers.2.bias": "conv1.bias", "emb_layers.1.weight": "time_emb_proj.weight",
    "emb_layers.1.bias": "time_emb_proj.bias", "out_layers.3.weight": "conv2.weight", "out_layers.3.bias": "conv2.bias",
    "skip_connection.weight": "conv_shortcut.weight", "skip_connection.bias": "conv_shortcut.bias",
    "in_layers.0.weight": "norm1.weight", "in_layers.0.bias": "norm1.bias", "out_layers.0.weight": "norm2.weight",
    "out_layers.0.bias": "norm2.bias",
}
UNET_MAP_BASIC = {
    ("label_emb.0.0.weight", "class_embedding.linear_1.weight"), ("label_emb.0.0.bias", "class_embedding.linear_1.bias"),
    ("label_emb.0.2.weight", "class_embedding.linear_2.weight"), ("label_emb.0.2.bias", "class_embedding.linear_2.bias"),
    ("label_emb.0.0.weight", "add_embedding.linear_1.weight"), ("label_emb.0.0.bias", "add_embedding.linear_1.bias"),
    ("label_emb.0.2.weight", "add_embedding.linear_2.weight"), ("label_emb.0.2.bias", "add_embedding.linear_2.bias"),
    ("input_blocks.0.0.weight", "conv_in.weight"), ("input_blocks.0.0.bias", "conv_in.bias"),
    ("out.0.weight", "conv_norm_out.weight"), ("out.0.bias", "conv_norm_out.bias"), ("out.2.weight", "conv_out.weight"),
    ("out.2.bias", "conv_out.bias"), ("time_embed.0.weight", "time_embedding.linear_1.weight"),
    ("time_embed.0.bias", "time_embedding.linear_1.bias"), ("time_embed.2.weight", "time_embedding.linear_2.weight"),
    ("time_embed.2.bias", "time_embedding.linear_2.bias"),
}


def string_to_seed(data: str) -> int:
    import zlib

    return zlib.crc32(str(data).encode()) & 0xFFFFFFFF


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
