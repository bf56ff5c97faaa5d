"""ComfyUI's `comfy.lora`: key maps from LoRA names to model weights, and LoRA loading as
patches for `model.add_patches` / `clip.add_patches`."""
from __future__ import annotations

import logging
from typing import Any, Optional

from diffusion.key_patches import clip_key_names, unet_key_names
from diffusion.lora import LoraTargets, clip_targets, group_lora, unet_targets

log = logging.getLogger(__name__)


def model_lora_keys_unet(model: Any, key_map: Optional[dict] = None) -> dict:
    """LoRA module name -> ComfyUI weight key (diffusion_model.*.weight) for the UNet."""
    key_map = {} if key_map is None else key_map
    targets = LoraTargets()
    unet_targets(model, targets)
    by_param = {param: key for key, param in unet_key_names(model.unet).items()}
    for alias, (_, param) in targets.names.items():
        if param in by_param:
            key_map.setdefault(alias, by_param[param])
    return key_map


def model_lora_keys_clip(model: Any, key_map: Optional[dict] = None) -> dict:
    """LoRA module name -> ComfyUI weight key (clip_l.transformer.*.weight) for the text encoder."""
    key_map = {} if key_map is None else key_map
    targets = LoraTargets()
    clip_targets(model, targets)
    by_target = {target: key for key, target in clip_key_names(model.encoders).items()}
    for alias, target in targets.names.items():
        if target in by_target:
            key_map.setdefault(alias, by_target[target])
    return key_map


def load_lora(lora: dict, to_load: dict, log_missing: bool = True) -> dict:
    """{weight key: ("lora", (up, down, alpha, None, None, None))} for the LoRA's modules in `to_load`."""
    groups, _ = group_lora(lora)
    patches = {}
    for base, parts in groups.items():
        key = to_load.get(base)
        if key is None or "up" not in parts or "down" not in parts:
            if log_missing and key is None:
                log.debug("lora key not loaded: %s", base)
            continue
        patches[key] = ("lora", (parts["up"], parts["down"], parts.get("alpha"), None, None, None))
    return patches


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
