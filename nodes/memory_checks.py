"""Memory preflight for nodes that allocate by size: refuse before the work starts.

Each check names the node and the tensor it would make, so the error reads like
"EmptyLatentImage: a 4096 x 4 x 2048 x 2048 latent would need 256 GiB; this machine has
23 GiB free".
"""
from __future__ import annotations

from typing import Sequence

from diffusion.memory import fits, preflight, tensor_bytes

RESIZE_COPIES = 2  # the channels-first copy of the input and the result


def check_tensor(node: str, kind: str, shape: Sequence[int], copies: int = 1) -> None:
    """Refuse a float32 tensor of `shape` (times `copies`) that cannot fit in free memory."""
    preflight(f"{node}: a {' x '.join(str(int(s)) for s in shape)} {kind}", tensor_bytes(*shape) * copies)


def check_resize(node: str, kind: str, batch: int, channels: int, height: int, width: int) -> None:
    check_tensor(node, kind, (batch, channels, height, width), RESIZE_COPIES)


def vae_decode_bytes(vae, latent_shape: Sequence[int], tile_pixels: int = 0) -> int:
    """What decoding needs: activations at full resolution (a few tensors of the decoder's
    widest-resolution channels per pixel, or one tile's worth when tiled) plus the image."""
    batch, _, height, width = (int(s) for s in latent_shape)
    scale = getattr(vae, "downscale", 8)
    pixels = height * scale * width * scale
    config = getattr(getattr(vae, "vae", None), "config", None)
    channels = int(getattr(config, "block_out_channels", (128,))[0]) if config is not None else 128
    element = 2 if str(getattr(vae, "dtype", "")).endswith(("float16", "bfloat16")) else 4
    working = min(pixels, tile_pixels) if tile_pixels else pixels
    return batch * working * channels * 6 * element + tensor_bytes(batch, 3, height * scale, width * scale)


def check_vae_encode(vae, pixels_shape: Sequence[int]) -> None:
    """Encoding works at full resolution like decoding: refuse what cannot fit."""
    if str(getattr(vae, "device", "cpu")) != "cpu":
        return  # the device's own budget applies there
    batch, height, width = (int(s) for s in pixels_shape[:3])
    scale = getattr(vae, "downscale", 8)
    need = vae_decode_bytes(vae, (batch, 4, height // scale, width // scale))
    preflight(f"VAEEncode: encoding a {batch} x {height} x {width} image", need)


def vae_decode_fits_whole(vae, latent_shape: Sequence[int], tile_size: int) -> bool:
    """True: decode at once. False: only tiles of `tile_size` fit. Raises when neither does."""
    if str(getattr(vae, "device", "cpu")) != "cpu":
        return True  # the device's own budget applies there
    need = vae_decode_bytes(vae, latent_shape)
    if fits(need):
        return True
    tiled = vae_decode_bytes(vae, latent_shape, tile_pixels=tile_size * tile_size)
    batch, _, height, width = (int(s) for s in latent_shape)
    scale = getattr(vae, "downscale", 8)
    preflight(f"VAEDecode: decoding a {batch} x {height * scale} x {width * scale} image even in tiles", tiled)
    return False
