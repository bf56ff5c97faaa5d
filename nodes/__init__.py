"""Typed node classes and their registry. Importing this package registers the core nodes."""
from . import conditioning, image_nodes, latent, loaders, sampling, vae_nodes  # noqa: F401
from .registry import REGISTRY, Node, NodeRegistry, load_custom_nodes, object_info, register_node  # noqa: F401
