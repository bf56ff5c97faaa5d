"""Nodes that move between pixels and latents through a VAE."""
from __future__ import annotations

from .registry import Node, register_node
from .spec import Output, Socket


@register_node("VAEDecode", category="latent", display_name="VAE Decode")
class VAEDecode(Node):
    """Turns latents into images."""

    samples = Socket("LATENT", tooltip="The latent to decode.")
    vae = Socket("VAE", tooltip="The VAE that decodes it.")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, samples: dict, vae) -> tuple:
        return (vae.decode(samples["samples"]),)


@register_node("VAEEncode", category="latent", display_name="VAE Encode")
class VAEEncode(Node):
    """Turns images into latents (sides are cropped to multiples of 8), e.g. for img2img."""

    pixels = Socket("IMAGE")
    vae = Socket("VAE")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, pixels, vae) -> tuple:
        return ({"samples": vae.encode(pixels[..., :3])},)
