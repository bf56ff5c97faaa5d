"""ComfyUI's old `comfy_extras.chainner_models.model_loading`: an upscale network from its weights."""
from __future__ import annotations

from typing import Any


def load_state_dict(state_dict: dict) -> Any:
    """The network (ESRGAN / RRDBNet, SRVGGNet) for an upscale model state dict."""
    from diffusion.upscale import build_upscale_model

    return build_upscale_model(state_dict)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
