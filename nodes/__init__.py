"""Typed node classes and their registry. Importing this package registers the core nodes."""
from . import (  # noqa: F401
    conditioning, conditioning_regions, controlnet_nodes, detailer_nodes, faceswap_extras, faceswap_nodes, image_nodes,
    image_utils, latent, latent_utils, loaders, mask_nodes, model_merging, model_saving, region_nodes, sampling,
    upscale_nodes, vae_nodes,
)
from . import custom_sampling, model_merging_blocks, model_sampling_nodes, sampler_nodes, sigma_nodes  # noqa: F401
from . import clip_vision_nodes, image_ops, latent_math, mask_ops, primitive_nodes, string_nodes  # noqa: F401
from . import guidance_nodes, latent_files, sdxl_text_nodes, unet_patch_nodes, websocket_image  # noqa: F401
from . import upscale_diffusion_nodes  # noqa: F401
from . import attention_multiply, batch_nodes, component_loaders, image_preprocess, image_transform  # noqa: F401
from .registry import REGISTRY, Node, NodeRegistry, object_info, register_node  # noqa: F401


def __getattr__(name: str):
    """ComfyUI's `nodes` module names (MAX_RESOLUTION, NODE_CLASS_MAPPINGS, KSampler, ...),
    which custom node packs import from here; provided by the compatibility layer."""
    if name.startswith("__"):
        raise AttributeError(name)
    from comfy_compat.nodes_surface import lookup

    return lookup(name)
