"""Nodes that move between pixels and latents through a VAE."""
from __future__ import annotations

import logging

from .memory_checks import check_vae_encode, vae_decode_fits_whole
from .registry import Node, register_node
from .spec import Int, Output, Socket

log = logging.getLogger(__name__)
FALLBACK_TILE, FALLBACK_OVERLAP = 512, 64  # VAEDecodeTiled's defaults, when a whole decode cannot fit


@register_node("VAEDecode", category="latent", display_name="VAE Decode")
class VAEDecode(Node):
    """Turns latents into images; in tiles when the whole image cannot fit in free memory."""

    samples = Socket("LATENT", tooltip="The latent to decode.")
    vae = Socket("VAE", tooltip="The VAE that decodes it.")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, samples: dict, vae) -> tuple:
        latent = samples["samples"]
        if latent.ndim == 4 and not vae_decode_fits_whole(vae, latent.shape, FALLBACK_TILE):
            log.warning("VAEDecode: a %s latent does not fit in free memory at once; decoding it in %d-pixel tiles",
                        "x".join(map(str, latent.shape)), FALLBACK_TILE)
            return (vae.decode_in_tiles(latent, FALLBACK_TILE, FALLBACK_OVERLAP),)
        return (vae.decode(latent),)


@register_node("VAEEncode", category="latent", display_name="VAE Encode")
class VAEEncode(Node):
    """Turns images into latents (sides are cropped to multiples of 8), e.g. for img2img."""

    pixels = Socket("IMAGE")
    vae = Socket("VAE")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, pixels, vae) -> tuple:
        check_vae_encode(vae, pixels.shape)
        return ({"samples": vae.encode(pixels[..., :3])},)


@register_node("VAEDecodeTiled", category="_for_testing", display_name="VAE Decode (Tiled)")
class VAEDecodeTiled(Node):
    """Decodes latents tile by tile (sizes in pixels), blending the overlaps: for images too
    big to decode at once."""

    samples = Socket("LATENT")
    vae = Socket("VAE")
    tile_size = Int(default=512, min=64, max=4096, step=32)
    overlap = Int(default=64, min=0, max=4096, step=32)
    temporal_size = Int(default=64, min=8, max=4096, step=4, optional=True, tooltip="For video VAEs; unused.")
    temporal_overlap = Int(default=8, min=4, max=4096, step=4, optional=True, tooltip="For video VAEs; unused.")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, samples: dict, vae, tile_size: int, overlap: int = 64, temporal_size: int = 64,
                temporal_overlap: int = 8) -> tuple:
        overlap = min(overlap, tile_size // 4)  # as ComfyUI: at most a quarter of the tile
        return (vae.decode_in_tiles(samples["samples"], tile_size, overlap),)


@register_node("VAEEncodeTiled", category="_for_testing", display_name="VAE Encode (Tiled)")
class VAEEncodeTiled(Node):
    """Encodes images tile by tile (sizes in pixels), blending the overlaps."""

    pixels = Socket("IMAGE")
    vae = Socket("VAE")
    tile_size = Int(default=512, min=64, max=4096, step=64)
    overlap = Int(default=64, min=0, max=4096, step=32)
    temporal_size = Int(default=64, min=8, max=4096, step=4, optional=True, tooltip="For video VAEs; unused.")
    temporal_overlap = Int(default=8, min=4, max=4096, step=4, optional=True, tooltip="For video VAEs; unused.")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, pixels, vae, tile_size: int, overlap: int = 64, temporal_size: int = 64,
                temporal_overlap: int = 8) -> tuple:
        overlap = min(overlap, tile_size // 4)
        return ({"samples": vae.encode_tiled(pixels, tile_size, overlap)},)
