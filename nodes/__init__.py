"""Typed node classes and their registry. Importing this package registers the core nodes."""
from . import (  # noqa: F401
    conditioning, conditioning_regions, controlnet_nodes, image_nodes, image_utils, latent, latent_utils, loaders,
    mask_nodes, sampling, upscale_nodes, vae_nodes,
)
from .registry import REGISTRY, Node, NodeRegistry, load_custom_nodes, object_info, register_node  # noqa: F401
