"""ComfyUI's `comfy.model_patcher`: ModelPatcher (what a MODEL value is) and model_options helpers.

This app's MODEL values already offer ModelPatcher's interface (clone, model_options,
set_model_*, add_patches, get_model_object, ...); `isinstance(model, ModelPatcher)` is
true for them. Constructing a ModelPatcher around an arbitrary torch module (ComfyUI's
own model classes) is not supported."""
from __future__ import annotations

from typing import Any, Callable, Optional

from diffusion.model import DiffusionModel
from diffusion.model_options import PatchableModel, add_patch_replace, add_sampler_hook, clone_model_options

from comfy_compat.covers import Covers


class ModelPatcher(PatchableModel, metaclass=Covers):
    """A wrapper around a torch module with ComfyUI's patching interface."""

    covers = DiffusionModel

    def __init__(self, model: Any, load_device: Any = None, offload_device: Any = None, size: int = 0,
                 weight_inplace_update: bool = False) -> None:
        self._init_options()
        self.wrapped = model
        self._load_device, self._offload_device, self._size = load_device, offload_device, size
        self.patches = ()

    @property
    def model(self) -> Any:
        return self.wrapped

    @property
    def load_device(self) -> Any:
        return self._load_device

    @property
    def offload_device(self) -> Any:
        return self._offload_device

    def model_size(self) -> int:
        return self._size or sum(p.nelement() * p.element_size() for p in self.wrapped.parameters())

    def is_clone(self, other: Any) -> bool:
        return getattr(other, "wrapped", None) is self.wrapped


CoreModelPatcher = ModelPatcher


def create_model_options_clone(orig_model_options: dict) -> dict:
    return clone_model_options(orig_model_options)


def set_model_options_patch_replace(model_options: dict, patch: Any, name: str, block_name: str, number: int,
                                    transformer_index: Optional[int] = None) -> dict:
    return add_patch_replace(clone_model_options(model_options), patch, name, block_name, number, transformer_index)


def set_model_options_post_cfg_function(model_options: dict, post_cfg_function: Callable,
                                        disable_cfg1_optimization: bool = False) -> dict:
    return add_sampler_hook(model_options, "sampler_post_cfg_function", post_cfg_function, disable_cfg1_optimization)


def set_model_options_pre_cfg_function(model_options: dict, pre_cfg_function: Callable,
                                       disable_cfg1_optimization: bool = False) -> dict:
    return add_sampler_hook(model_options, "sampler_pre_cfg_function", pre_cfg_function, disable_cfg1_optimization)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
