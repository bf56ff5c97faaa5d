"""The VAE socket value: ComfyUI's IMAGE/LATENT conventions around diffusers' AutoencoderKL.

IMAGE is [B,H,W,C] float 0..1 on the CPU; LATENT samples are unscaled VAE-space latents
(the sampler multiplies by the model's latent_scale), so encode returns the posterior
mean and decode takes it back, both float32 on the CPU.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from typing import Optional

import torch

from . import memory_manager
from .interrupts import check_blocks
from .oom import small_footprint

log = logging.getLogger(__name__)

DOWNSCALE = 8


def crop_to_multiple(image: torch.Tensor, multiple: int = DOWNSCALE) -> torch.Tensor:
    """Centre-crop H and W of a [B,H,W,C] image down to multiples of `multiple` (as ComfyUI)."""
    h, w = image.shape[1], image.shape[2]
    nh, nw = (h // multiple) * multiple, (w // multiple) * multiple
    if nh == 0 or nw == 0:
        raise ValueError(f"image {h}x{w} is smaller than {multiple} pixels")
    top, left = (h % multiple) // 2, (w % multiple) // 2
    return image[:, top : top + nh, left : left + nw, :]


class VAE:
    """A loaded autoencoder: `encode` IMAGE -> latent, `decode` latent -> IMAGE. Each level
    but the last halves the size: 8x for SD's VAEs, 4x for the x4 upscaler's."""

    def __init__(self, vae: torch.nn.Module, device: torch.device, dtype: torch.dtype):
        self.vae = vae.eval().requires_grad_(False)
        self.device = torch.device(device)
        self.dtype = dtype
        levels = getattr(getattr(vae, "config", None), "block_out_channels", None)
        self.downscale = 2 ** (len(levels) - 1) if levels else DOWNSCALE
        for coder in ("encoder", "decoder"):  # a large decode is long: stop between blocks
            check_blocks(getattr(vae, coder, None))

    def _nan_in_half(self, pixels: torch.Tensor) -> bool:
        """A half-precision decode that turned to NaN (SDXL's VAE in fp16 does): the VAE is put
        in float32 for this decode and the ones after; True when the caller should decode again."""
        if self.dtype == torch.float32 or not torch.isnan(pixels).any():
            return False
        log.warning("the VAE decode gave NaN in %s; decoding again in float32 (kept from now on)", self.dtype)
        self.vae.to(torch.float32)
        self.dtype = torch.float32
        memory_manager.MANAGER.resized(self.vae)
        return True

    def _loaded(self, room: int = 0):
        """The autoencoder on the compute device for a block (diffusion/memory_manager.py),
        with `room` bytes left for its activations."""
        return memory_manager.using([self.vae], "vae", room)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """[B,H,W,C] in 0..1 -> the posterior mean [B,4,H/8,W/8] (unscaled; /4 for a 4x VAE), float32 CPU.
        In an out-of-memory retry (diffusion/oom.py) it works in tiles."""
        if image.ndim != 4:
            raise ValueError(f"expected an IMAGE [B,H,W,C], got shape {tuple(image.shape)}")
        if small_footprint():
            return self.encode_tiled(image)
        pixels = crop_to_multiple(image, self.downscale)[..., :3]
        pixels = pixels.permute(0, 3, 1, 2).to(self.device, self.dtype) * 2.0 - 1.0
        with torch.inference_mode(), self._loaded(self.memory_used_encode(pixels.movedim(1, -1).shape, self.dtype)):
            latent = self.vae.encode(pixels).latent_dist.mean
        return latent.to("cpu", torch.float32)

    def _encode_raw(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in -1..1 on the device -> posterior mean [B,4,H/8,W/8] float32."""
        with torch.inference_mode():
            return self.vae.encode(pixels.to(self.device, self.dtype)).latent_dist.mean.float()

    def _decode_raw(self, latent: torch.Tensor) -> torch.Tensor:
        """[B,4,h,w] -> pixels [B,3,8h,8w] in about -1..1, float32 on the device."""
        with torch.inference_mode():
            return self.vae.decode(latent.to(self.device, self.dtype)).sample.float()

    def encode_tiled(self, image: torch.Tensor, tile_size: int = 512, overlap: int = 64, tile_y: Optional[int] = None,
                     **_: object) -> torch.Tensor:
        """Like `encode`, tile by tile (pixels), overlaps blended: bounded memory for big images.
        (ComfyUI's call form encode_tiled(pixels, tile_x, tile_y, overlap) works too.)"""
        if tile_y is not None:
            tile_size = max(tile_size, tile_y)
        from .tiling import tiled_map

        d = self.downscale
        pixels = crop_to_multiple(image, d)[..., :3].permute(0, 3, 1, 2) * 2.0 - 1.0
        tile = max(d, (tile_size // d) * d)
        with self._loaded():
            latent = tiled_map(pixels, self._encode_raw, tile, overlap, Fraction(1, d), align=d)
        return latent.to("cpu", torch.float32)

    def decode_tiled(self, samples: torch.Tensor, tile_x: int = 64, tile_y: int = 64, overlap: int = 16,
                     **_: object) -> torch.Tensor:
        """ComfyUI's call form: tile sizes and overlap in latent pixels."""
        return self.decode_in_tiles(samples, max(tile_x, tile_y) * self.downscale, overlap * self.downscale)

    def decode_in_tiles(self, latent: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """Like `decode`, tile by tile (tile_size and overlap in pixels), overlaps blended."""
        from .tiling import tiled_map

        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise ValueError(f"expected a latent [B,{self.latent_channels},h,w], got shape {tuple(latent.shape)}")
        d = self.downscale
        with self._loaded():
            pixels = tiled_map(latent.float(), self._decode_raw, max(1, tile_size // d), overlap // d, d)
            if self._nan_in_half(pixels):
                pixels = tiled_map(latent.float(), self._decode_raw, max(1, tile_size // d), overlap // d, d)
        image = ((pixels + 1.0) / 2.0).clamp(0.0, 1.0)
        return image.permute(0, 2, 3, 1).to("cpu").contiguous()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """[B,4,h,w] unscaled latent -> [B,8h,8w,3] image in 0..1, float32 CPU. In an
        out-of-memory retry it works in tiles; a half-precision decode that turns to NaN
        (SDXL's VAE in fp16 does) is done again in float32, and the VAE stays in float32."""
        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise ValueError(f"expected a latent [B,{self.latent_channels},h,w], got shape {tuple(latent.shape)}")
        if small_footprint():
            return self.decode_in_tiles(latent)
        with torch.inference_mode(), self._loaded(self.memory_used_decode(latent.shape, self.dtype)):
            pixels = self.vae.decode(latent.to(self.device, self.dtype)).sample
            if self._nan_in_half(pixels):
                pixels = self.vae.decode(latent.to(self.device, self.dtype)).sample
        image = ((pixels.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        return image.permute(0, 2, 3, 1).to("cpu").contiguous()

    # -- what ComfyUI nodes read or call on a VAE ---------------------------------------

    @property
    def downscale_ratio(self) -> int:
        return self.downscale

    @property
    def upscale_ratio(self) -> int:
        return self.downscale

    latent_dim = 2
    output_device = torch.device("cpu")

    @property
    def first_stage_model(self) -> torch.nn.Module:
        return self.vae

    @property
    def vae_dtype(self) -> torch.dtype:
        return self.dtype

    @property
    def patcher(self) -> "VAE":
        return self

    @property
    def load_device(self) -> torch.device:
        return self.device

    def spacial_compression_decode(self) -> int:
        return self.downscale

    def spacial_compression_encode(self) -> int:
        return self.downscale

    def temporal_compression_decode(self) -> None:
        return None

    def vae_encode_crop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        return crop_to_multiple(pixels, self.downscale)

    def throw_exception_if_invalid(self) -> None:
        pass

    def memory_used_decode(self, shape, dtype) -> int:
        return int(2178 * shape[2] * shape[3] * 64 * torch.empty((), dtype=dtype).element_size())

    def memory_used_encode(self, shape, dtype) -> int:
        return int(1767 * shape[1] * shape[2] * torch.empty((), dtype=dtype).element_size())

    def get_sd(self) -> dict:
        from .export import vae_to_original

        return vae_to_original(self.vae)

    def __repr__(self) -> str:
        return f"VAE(latent_channels={self.latent_channels}, device={self.device}, dtype={self.dtype})"
