"""Per-value sampling hooks and patches of a MODEL, in the form ComfyUI nodes set them.

A MODEL value carries `model_options` (ComfyUI's dict: sampler_cfg_function,
sampler_post_cfg_function, sampler_pre_cfg_function, model_function_wrapper, ...), object
patches and weight patches. `clone()` gives a new value sharing the weights; setting a
hook on the clone leaves the original as it was. The denoiser honours the sampling hooks;
hooks it cannot honour (attention and block patches, which address ComfyUI's own UNet
code) make sampling stop with a message naming them rather than run without them.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Optional

import torch

HONOURED_OPTIONS = {"transformer_options", "sampler_cfg_function", "sampler_post_cfg_function",
                    "sampler_pre_cfg_function", "model_function_wrapper", "disable_cfg1_optimization",
                    "denoise_mask_function"}


HONOURED_OBJECTS = {"model_sampling"}  # ModelSampling* nodes: read by the denoiser


def clone_model_options(options: dict) -> dict:
    """Dicts and lists copied, everything else (functions, tensors) shared."""
    def copy_value(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: copy_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [copy_value(v) for v in value]
        return value

    return copy_value(options)


def add_sampler_hook(options: dict, key: str, fn: Callable, disable_cfg1_optimization: bool = False) -> dict:
    """Append `fn` to a list of sampling hooks (pre- or post-cfg functions) in model_options."""
    options[key] = list(options.get(key, [])) + [fn]
    if disable_cfg1_optimization:
        options["disable_cfg1_optimization"] = True
    return options


def add_patch_replace(options: dict, patch: Any, name: str, block_name: str, number: int,
                      transformer_index: Optional[int] = None) -> dict:
    """Put a block-replacing patch in options['transformer_options']['patches_replace']."""
    key = (block_name, number) if transformer_index is None else (block_name, number, transformer_index)
    options.setdefault("transformer_options", {}).setdefault("patches_replace", {}).setdefault(name, {})[key] = patch
    return options


def _legacy_cfg(fn: Callable) -> Callable:
    """ComfyUI's old three-argument form fn(cond, uncond, cond_scale)."""
    def wrapped(args: dict) -> torch.Tensor:
        return fn(args["cond"], args["uncond"], args["cond_scale"])

    return wrapped


class PatchableModel:
    """The ModelPatcher-style interface of the MODEL value (mixed into DiffusionModel)."""

    model_options: dict
    object_patches: dict

    def _init_options(self) -> None:
        self.model_options = {"transformer_options": {}}
        self.object_patches = {}
        self.weight_hooks: dict[str, list] = {}
        self.parent = None

    # -- values ---------------------------------------------------------------------

    def clone(self) -> "PatchableModel":
        twin = copy.copy(self)
        twin.model_options = clone_model_options(self.model_options)
        twin.object_patches = dict(self.object_patches)
        twin.weight_hooks = {k: list(v) for k, v in self.weight_hooks.items()}
        twin.parent = self
        return twin

    def is_clone(self, other: Any) -> bool:
        return getattr(other, "unet", None) is self.unet

    def clone_has_same_weights(self, other: Any) -> bool:
        return self.is_clone(other) and tuple(getattr(other, "patches", ())) == tuple(self.patches)

    @property
    def model(self) -> Any:
        """`model.model` as ComfyUI nodes read it (latent format, model sampling, ...)."""
        view = self.__dict__.get("_view")
        if view is None:
            from .model_view import BaseModelView

            view = self.__dict__["_view"] = BaseModelView(self)
        return view

    @property
    def load_device(self) -> torch.device:
        return self.device

    @property
    def offload_device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def size(self) -> int:
        return self.model_size()

    def model_size(self) -> int:
        return sum(p.nelement() * p.element_size() for p in self.unet.parameters())

    def loaded_size(self) -> int:
        return self.model_size()

    def model_dtype(self) -> torch.dtype:
        return self.dtype

    def memory_required(self, input_shape: Any) -> int:
        return self.model.memory_required(input_shape)

    def current_loaded_device(self) -> torch.device:
        return self.device

    def patch_model(self, device_to: Any = None, *_, **__) -> Any:
        return self.model

    def unpatch_model(self, device_to: Any = None, unpatch_weights: bool = True) -> None:
        pass

    def model_patches_to(self, device: Any) -> None:
        pass

    # -- sampling hooks -------------------------------------------------------------

    def set_model_sampler_cfg_function(self, fn: Callable, disable_cfg1_optimization: bool = False) -> None:
        if len(inspect.signature(fn).parameters) == 3:
            fn = _legacy_cfg(fn)
        self.model_options["sampler_cfg_function"] = fn
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(self, fn: Callable, disable_cfg1_optimization: bool = False) -> None:
        add_sampler_hook(self.model_options, "sampler_post_cfg_function", fn, disable_cfg1_optimization)

    def set_model_sampler_pre_cfg_function(self, fn: Callable, disable_cfg1_optimization: bool = False) -> None:
        add_sampler_hook(self.model_options, "sampler_pre_cfg_function", fn, disable_cfg1_optimization)

    def set_model_unet_function_wrapper(self, fn: Callable) -> None:
        self.model_options["model_function_wrapper"] = fn

    def set_model_denoise_mask_function(self, fn: Callable) -> None:
        self.model_options["denoise_mask_function"] = fn

    def disable_model_cfg1_optimization(self) -> None:
        self.model_options["disable_cfg1_optimization"] = True

    # -- UNet patches (kept, and refused at sampling time) ------------------------------

    def set_model_patch(self, patch: Any, name: str) -> None:
        options = self.model_options.setdefault("transformer_options", {})
        options.setdefault("patches", {}).setdefault(name, []).append(patch)

    def set_model_patch_replace(self, patch: Any, name: str, block_name: str, number: int,
                                transformer_index: Optional[int] = None) -> None:
        add_patch_replace(self.model_options, patch, name, block_name, number, transformer_index)

    def set_model_attn1_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_input_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch")

    def set_model_input_block_patch_after_skip(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch_after_skip")

    def set_model_output_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "output_block_patch")

    def set_model_attn1_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: Optional[int] = None) -> None:
        self.set_model_patch_replace(patch, "attn1", block_name, number, transformer_index)

    def set_model_attn2_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: Optional[int] = None) -> None:
        self.set_model_patch_replace(patch, "attn2", block_name, number, transformer_index)

    def unsupported_options(self) -> list[str]:
        """Hooks set on this value that sampling here cannot apply (named for the error)."""
        found = [f"model_options['{k}']" for k in self.model_options if k not in HONOURED_OPTIONS]
        transformer = self.model_options.get("transformer_options", {})
        for section in ("patches", "patches_replace"):
            found += [f"{section}['{name}']" for name, value in transformer.get(section, {}).items() if value]
        found += [f"object patch '{name}'" for name in self.object_patches if name not in HONOURED_OBJECTS]
        found += [f"{kind} '{name}'" for kind, names in self.weight_hooks.items() for name in names]
        return found

    # -- objects ----------------------------------------------------------------------

    def add_object_patch(self, name: str, obj: Any) -> None:
        self.object_patches[name] = obj

    def get_model_object(self, name: str) -> Any:
        if name in self.object_patches:
            return self.object_patches[name]
        target: Any = self.model
        for part in name.split("."):
            target = getattr(target, part)
        return target

    # -- extension points ComfyUI added later (kept so packs can register; not run here) --

    def add_wrapper_with_key(self, wrapper_type: str, key: str, fn: Callable) -> None:
        self.weight_hooks.setdefault("wrapper", []).append(f"{wrapper_type}:{key}")

    def add_wrapper(self, wrapper_type: str, fn: Callable) -> None:
        self.add_wrapper_with_key(wrapper_type, "", fn)

    def add_callback_with_key(self, call_type: str, key: str, fn: Callable) -> None:
        self.weight_hooks.setdefault("callback", []).append(f"{call_type}:{key}")

    def add_callback(self, call_type: str, fn: Callable) -> None:
        self.add_callback_with_key(call_type, "", fn)
