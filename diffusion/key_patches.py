"""Weight patches addressed by ComfyUI's state-dict names, for MODEL and CLIP values.

ComfyUI names a UNet weight `diffusion_model.<original-layout name>` and a text-encoder
weight `clip_<l|g|h>.transformer.<transformers name>`. Nodes written for it patch weights
by those names (`model.add_patches({...})`, model merging through `get_key_patches`), so
the MODEL and CLIP values map them onto their own parameters here. Understood patch
values: a tensor or `("diff", (tensor,))` (a full difference), `("lora", (up, down, alpha,
...))`, and get_key_patches' own `[(weight,)]`; others are left out (not in the returned
list of accepted keys), as ComfyUI leaves out keys it cannot place.
"""
from __future__ import annotations

import logging
import weakref
from typing import Any, Iterable, Optional

import torch

from .export import unet_ldm_names
from .patching import DiffPatch, ScalePatch, WeightPatch

log = logging.getLogger(__name__)
_UNET_NAMES: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, str]]" = weakref.WeakKeyDictionary()


def unet_key_names(unet: torch.nn.Module) -> dict[str, str]:
    """ComfyUI key (diffusion_model.*) -> the UNet's own parameter name."""
    found = _UNET_NAMES.get(unet)
    if found is None:
        found = {ldm[len("model."):]: param for param, ldm in unet_ldm_names(unet).items()}
        _UNET_NAMES[unet] = found
    return found


def transformer_name(param: str) -> str:
    """A text-encoder parameter's name below ComfyUI's `clip_<name>.transformer.`: under
    `text_model.`, except the projection, which sits beside it."""
    return param if param.startswith(("text_model.", "text_projection.")) else "text_model." + param


def clip_key_names(encoders: Iterable[Any]) -> dict[str, tuple[str, str]]:
    """ComfyUI key (clip_l.transformer.*) -> (encoder name, its parameter name)."""
    out = {}
    for spec in encoders:
        for param in spec.model.state_dict():
            out[f"clip_{spec.name}.transformer.{transformer_name(param)}"] = (spec.name, param)
    return out


def _first_tensor(value: Any) -> Optional[torch.Tensor]:
    while isinstance(value, (list, tuple)) and value and not isinstance(value[0], str):
        value = value[0]
    return value if isinstance(value, torch.Tensor) else None


def patch_for(component: str, target: str, value: Any, strength: float, strength_model: float) -> list:
    """The engine's patches for one ComfyUI patch value ([] when the format is not understood)."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        kind, data = value[0], value[1]
        if kind == "diff":
            return [DiffPatch(component, target, data[0], strength, strength_model)]
        if kind == "set":
            return [DiffPatch(component, target, data[0], 1.0, 0.0)]
        if kind == "lora":
            up, down, alpha = data[0], data[1], data[2] if len(data) > 2 else None
            scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
            out: list = [WeightPatch(component, target, up, down, scale, strength)]
            if strength_model != 1.0:
                out.insert(0, ScalePatch(component, target, strength_model))
            return out
        return []
    tensor = _first_tensor(value)
    return [DiffPatch(component, target, tensor, strength, strength_model)] if tensor is not None else []


def resolve(names: dict[str, Any], patches: dict, strength: float, strength_model: float,
            component_of) -> tuple[list, list]:
    """(engine patches, accepted keys) for ComfyUI-keyed `patches`."""
    made, accepted = [], []
    for key, value in patches.items():
        name = key[0] if isinstance(key, tuple) else key
        target = names.get(name)
        if target is None:
            continue
        component, param = component_of(target)
        found = patch_for(component, param, value, strength, strength_model)
        if found:
            made.extend(found)
            accepted.append(key)
    if len(accepted) < len(patches):
        log.info("add_patches: %d of %d keys placed", len(accepted), len(patches))
    return made, accepted


class KeyPatchable:
    """add_patches / get_key_patches / model_state_dict over ComfyUI key names.

    Subclasses say how names map to their parameters (`_key_names`, `_component_of`,
    `_own_state`) and hold their patches in `self.patches` (a tuple)."""

    patches: tuple

    def _key_names(self) -> dict[str, Any]:
        raise NotImplementedError

    def _component_of(self, target: Any) -> tuple[str, str]:
        raise NotImplementedError

    def _own_state(self) -> dict[Any, torch.Tensor]:
        """Current weights keyed as _key_names' values."""
        raise NotImplementedError

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        made, accepted = resolve(self._key_names(), patches, float(strength_patch), float(strength_model),
                                 self._component_of)
        self.patches = tuple(self.patches) + tuple(made)
        return accepted

    def model_state_dict(self, filter_prefix: Optional[str] = None) -> dict[str, torch.Tensor]:
        state = self._own_state()
        return {key: state[target] for key, target in self._key_names().items()
                if (filter_prefix is None or key.startswith(filter_prefix)) and target in state}

    def get_key_patches(self, filter_prefix: Optional[str] = None) -> dict[str, list]:
        return {key: [(value,)] for key, value in self.model_state_dict(filter_prefix).items()}
