"""ComfyUI's `comfy_extras.nodes_upscale_model`: the upscale model nodes (this app's core nodes)."""
from typing import Any

from comfy_compat.core_v1 import core_classes

UpscaleModelLoader = core_classes()["UpscaleModelLoader"]
ImageUpscaleWithModel = core_classes()["ImageUpscaleWithModel"]
NODE_CLASS_MAPPINGS = {"UpscaleModelLoader": UpscaleModelLoader, "ImageUpscaleWithModel": ImageUpscaleWithModel}


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
