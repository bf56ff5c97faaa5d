"""Latents and outputs as files: SaveLatent / LoadLatent in ComfyUI's `.latent` format
(safetensors with `latent_tensor`), and LoadImageOutput, which reads back an image this app
saved."""
from __future__ import annotations

import json
from typing import Any, Optional

import torch

from .image_nodes import input_file_fingerprint, load_image_file
from .png_files import split_prefix, write_numbered
from .registry import Node, register_node
from .spec import Combo, NodeOutput, Output, Socket, String

LATENT_SUFFIX = ".latent"
# Files written since ComfyUI's latent format version 0 hold the latent as the UNet sees it;
# older ones were stored scaled by SD1's latent factor.
VERSION_KEY = "latent_format_version_0"
LEGACY_SCALE = 0.18215


def latent_file_bytes(samples: torch.Tensor, prompt: Optional[dict], extra_pnginfo: Optional[dict]) -> bytes:
    from safetensors.torch import save

    metadata = {"prompt": json.dumps(prompt)} if prompt is not None else {}
    metadata.update({key: json.dumps(value) for key, value in (extra_pnginfo or {}).items()})
    tensors = {"latent_tensor": samples.detach().cpu().float().contiguous(), VERSION_KEY: torch.tensor([])}
    return save(tensors, metadata=metadata)


def read_latent_file(path) -> torch.Tensor:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if "latent_tensor" not in tensors:
        raise ValueError(f"{path.name} holds no latent_tensor: not a .latent file")
    scale = 1.0 if VERSION_KEY in tensors else 1.0 / LEGACY_SCALE
    return tensors["latent_tensor"].float() * scale


@register_node("SaveLatent", category="_for_testing", output_node=True)
class SaveLatent(Node):
    """Saves the latent as a .latent file in the output folder (with the workflow); never
    overwrites. Put it in the input folder to load it with LoadLatent."""

    samples = Socket("LATENT")
    filename_prefix = String(default="latents/ComfyUI")
    OUTPUTS = ()

    def execute(self, ctx, samples: dict, filename_prefix: str = "latents/ComfyUI") -> NodeOutput:
        folder, subfolder, name = split_prefix(ctx.folders.output, filename_prefix)
        data = latent_file_bytes(samples["samples"], ctx.prompt, ctx.extra_pnginfo)
        (filename,) = write_numbered(folder, name, LATENT_SUFFIX, [lambda handle: handle.write(data)],
                                     ctx.output_files, ctx.node_id)
        return NodeOutput((), {"latents": [{"filename": filename, "subfolder": subfolder, "type": "output"}]})


def _input_latents(folders: Any) -> list[str]:
    return folders.list_files("input", (LATENT_SUFFIX,)) if folders is not None else []


@register_node("LoadLatent", category="_for_testing")
class LoadLatent(Node):
    """Loads a .latent file from the input folder."""

    latent = Combo(choices=_input_latents)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, latent: str) -> tuple:
        return ({"samples": read_latent_file(ctx.folders.annotated_path(latent, "input"))},)

    @classmethod
    def fingerprint(cls, folders: Any, latent: str = "", **_: Any) -> Any:
        return input_file_fingerprint(folders, latent)


def _output_images(folders: Any) -> list[str]:
    if folders is None:
        return []
    from .folders import IMAGE_EXTENSIONS

    return [f"{name} [output]" for name in folders.list_files("output", IMAGE_EXTENSIONS)]


@register_node("LoadImageOutput", category="image", display_name="Load Image (from Outputs)")
class LoadImageOutput(Node):
    """Loads an image from the output folder (to work further on a result); its alpha
    becomes a mask."""

    image = Combo(choices=_output_images, image_upload=True)
    OUTPUTS = (Output("IMAGE", "IMAGE"), Output("MASK", "MASK"))

    def execute(self, ctx, image: str) -> tuple:
        return load_image_file(ctx.folders.annotated_path(image, "output"))

    @classmethod
    def fingerprint(cls, folders: Any, image: str = "", **_: Any) -> Any:
        return input_file_fingerprint(folders, image, "output")
