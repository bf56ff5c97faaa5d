"""The core nodes as ComfyUI V1 classes, for packs that call or subclass them
(`nodes.KSampler().sample(...)`, `class MyPreview(nodes.PreviewImage)`).

Each class forwards its FUNCTION (ComfyUI's method name) to the engine's node with the
context of the node running now, so progress and interrupts work from inside a pack.
"""
from __future__ import annotations

import random
from typing import Any, Optional

from nodes.registry import REGISTRY, Node
from nodes.spec import NodeOutput

from . import runtime

# ComfyUI's FUNCTION name for each core node class (others are called `execute`).
FUNCTIONS = {
    "KSampler": "sample", "KSamplerAdvanced": "sample", "CheckpointLoaderSimple": "load_checkpoint",
    "CLIPTextEncode": "encode", "CLIPSetLastLayer": "set_last_layer", "VAEDecode": "decode", "VAEEncode": "encode",
    "VAEEncodeForInpaint": "encode", "VAELoader": "load_vae", "EmptyLatentImage": "generate",
    "LatentUpscale": "upscale", "LatentUpscaleBy": "upscale", "LatentFromBatch": "frombatch",
    "RepeatLatentBatch": "repeat", "SaveImage": "save_images", "PreviewImage": "save_images",
    "LoadImage": "load_image", "LoadImageMask": "load_image", "ImageScale": "upscale", "ImageScaleBy": "upscale",
    "ImageInvert": "invert", "ImageBatch": "batch", "ImagePadForOutpaint": "expand_image", "EmptyImage": "generate",
    "ConditioningAverage": "addWeighted", "ConditioningCombine": "combine", "ConditioningConcat": "concat",
    "ConditioningSetArea": "append", "ConditioningSetAreaPercentage": "append",
    "ConditioningSetAreaStrength": "append", "ConditioningSetMask": "append", "ConditioningZeroOut": "zero_out",
    "ConditioningSetTimestepRange": "set_range", "SetLatentNoiseMask": "set_mask", "LatentComposite": "composite",
    "LatentBlend": "blend", "LatentRotate": "rotate", "LatentFlip": "flip", "LatentCrop": "crop",
    "LoraLoader": "load_lora", "LoraLoaderModelOnly": "load_lora_model_only", "ControlNetLoader": "load_controlnet",
    "ControlNetApply": "apply_controlnet", "ControlNetApplyAdvanced": "apply_controlnet", "ImageCrop": "crop",
    "VAEDecodeTiled": "decode", "VAEEncodeTiled": "encode", "InpaintModelConditioning": "encode",
    "UpscaleModelLoader": "load_model", "ImageUpscaleWithModel": "upscale",
}


# ComfyUI's positional parameter order where it differs from the inputs' order.
CALL_ORDER = {
    "CLIPTextEncode": ("clip", "text"), "VAEDecode": ("vae", "samples"), "VAEEncode": ("vae", "pixels"),
    "VAEEncodeForInpaint": ("vae", "pixels", "mask", "grow_mask_by"),
    "ConditioningSetMask": ("conditioning", "mask", "set_cond_area", "strength"),
    "VAEDecodeTiled": ("vae", "samples", "tile_size", "overlap", "temporal_size", "temporal_overlap"),
    "VAEEncodeTiled": ("vae", "pixels", "tile_size", "overlap", "temporal_size", "temporal_overlap"),
    "InpaintModelConditioning": ("positive", "negative", "pixels", "vae", "mask", "noise_mask"),
}

CHOICE_LISTS = {"upscale_method": "upscale_methods", "crop": "crop_methods", "rotation": "rotations",
                "flip_method": "flip_methods"}


def _defaults(node: type[Node]) -> dict[str, Any]:
    out = {}
    for spec in node.INPUTS:
        default = getattr(spec, "default", None)
        if default is not None:
            out[spec.name] = default
        elif hasattr(spec, "current_choices"):
            choices = spec.current_choices(runtime.folders())
            if choices:
                out[spec.name] = choices[0]
    return out


def call_core(node: type[Node], args: tuple, kwargs: dict) -> Any:
    """Run a core node with V1-style arguments (positional in input order, or by name)."""
    names = [spec.name for spec in node.INPUTS]
    order = CALL_ORDER.get(node.NODE_ID, names)
    if len(args) > len(order):
        raise TypeError(f"{node.NODE_ID}: {len(args)} positional arguments for {len(order)} parameters")
    values = {**_defaults(node), **dict(zip(order, args)), **kwargs}
    returned = node().execute(runtime.context(), **{k: v for k, v in values.items() if k in names})
    if isinstance(returned, NodeOutput):
        return {"ui": returned.ui, "result": tuple(returned.result)}
    return tuple(returned)


def _v1_class(node: type[Node]) -> type:
    function = FUNCTIONS.get(node.NODE_ID, "execute")

    def input_types(cls) -> dict:
        return node.describe(runtime.folders())["input"]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return call_core(node, args, kwargs)

    attrs = {
        "INPUT_TYPES": classmethod(input_types),
        "RETURN_TYPES": tuple(out.type for out in node.OUTPUTS),
        "RETURN_NAMES": tuple(out.name or out.type for out in node.OUTPUTS),
        "FUNCTION": function,
        "CATEGORY": node.CATEGORY,
        "OUTPUT_NODE": node.OUTPUT_NODE,
        "DESCRIPTION": node.DESCRIPTION,
        "STUDIO_NODE": node,
        function: run,
        "__doc__": node.__doc__,
        "__module__": "nodes",
    }
    for spec in node.INPUTS:  # ImageScale.upscale_methods, crop_methods, ... as ComfyUI's classes have them
        if spec.name in CHOICE_LISTS and hasattr(spec, "current_choices"):
            attrs[CHOICE_LISTS[spec.name]] = list(spec.current_choices(None))
    return type(node.NODE_ID, (object,), attrs)


class SaveImage:
    """ComfyUI's SaveImage, whose attributes subclasses set (output_dir, type, prefix_append,
    compress_level) before calling save_images."""

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    DESCRIPTION = "Saves the input images to your output directory."

    def __init__(self) -> None:
        self.output_dir = str(runtime.folders().output)
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def save_images(self, images, filename_prefix: str = "ComfyUI", prompt: Optional[dict] = None,
                    extra_pnginfo: Optional[dict] = None) -> dict:
        from pathlib import Path

        from nodes.png_files import save_images

        records = save_images(images, Path(self.output_dir), filename_prefix + self.prefix_append, prompt,
                              extra_pnginfo, compress_level=self.compress_level, folder_type=self.type)
        return {"ui": {"images": records}}


class PreviewImage(SaveImage):
    DESCRIPTION = "Previews the images (saved to the temp folder)."

    def __init__(self) -> None:
        self.output_dir = str(runtime.folders().temp)
        self.type = "temp"
        self.prefix_append = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        self.compress_level = 1

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}


def _with_hooks(base: type, node: type[Node]) -> type:
    """LoadImage-like classes carry the IS_CHANGED / VALIDATE_INPUTS packs call on super()."""

    def is_changed(cls, image: str = "", **_: Any) -> Any:
        return node.fingerprint(runtime.folders(), image=image)

    def validate(cls, image: str = "", **_: Any) -> Any:
        try:
            runtime.folders().annotated_path(image, "input").stat()
        except (OSError, ValueError):
            return f"Invalid image file: {image}"
        return True

    return type(base.__name__, (base,), {"IS_CHANGED": classmethod(is_changed),
                                         "VALIDATE_INPUTS": classmethod(validate), "__module__": "nodes"})


_CLASSES: dict[str, type] = {}


def core_classes() -> dict[str, type]:
    """Node id -> V1 class for every engine node (made once)."""
    if not _CLASSES:
        for node in list(REGISTRY):
            if node.PYTHON_MODULE != "nodes":
                continue
            cls = _v1_class(node)
            if node.NODE_ID in ("LoadImage", "LoadImageMask"):
                cls = _with_hooks(cls, node)
            _CLASSES[node.NODE_ID] = cls
        _CLASSES["SaveImage"] = SaveImage
        _CLASSES["PreviewImage"] = PreviewImage
    return _CLASSES
