"""Nodes that save models into the output folder: checkpoints, UNets, text encoders, VAEs
and LoRAs extracted from a model difference.

Files are named as ComfyUI names them, `<prefix>_<counter:05>_.safetensors` with the
counter one past the highest already in the folder, inside the output folder only, and
never overwrite a file (diffusion/checkpoint_save.py claims each name exclusively).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from diffusion.lora_extract import LORA_TYPES

from .png_files import split_prefix
from .registry import Node, register_node
from .spec import Boolean, Combo, Int, NodeOutput, Socket, String

CATEGORY = "advanced/model_merging"


def next_file_counter(folder: Path, name: str) -> int:
    """One past the highest counter of `<name>_<digits>...` files in `folder` (ComfyUI's rule:
    any extension counts), 1 for none."""
    highest = 0
    if folder.is_dir():
        start = name + "_"
        for entry in folder.iterdir():
            if entry.name.startswith(start):
                digits = entry.name[len(start):].split("_")[0]
                if digits.isdigit():
                    highest = max(highest, int(digits))
    return highest + 1


def save_numbered(root: Path, prefix: str, sd: dict, metadata: Callable[[str, int], Optional[dict]]) -> Path:
    """Write `sd` as the next free `<prefix>_NNNNN_.safetensors` under `root`;
    `metadata(name, counter)` gives the file's metadata once its number is known."""
    from diffusion.checkpoint_save import write_new_safetensors

    folder, _, name = split_prefix(root, prefix)
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_file_counter(folder, name)
    while True:
        path = folder / f"{name}_{counter:05}_.safetensors"
        try:
            return write_new_safetensors(sd, path, metadata(name, counter))
        except FileExistsError:
            counter += 1


def _prompt_metadata(ctx) -> Callable[[str, int], dict]:
    from diffusion.checkpoint_save import prompt_metadata

    found = prompt_metadata(ctx.prompt, ctx.extra_pnginfo)
    return lambda name, counter: found


def save_checkpoint_file(ctx, model, clip, vae, filename_prefix: str) -> Path:
    from diffusion.checkpoint_save import checkpoint_metadata, checkpoint_state_dict

    sd = checkpoint_state_dict(model, clip, vae)

    def metadata(name: str, counter: int) -> dict:
        return checkpoint_metadata(model, f"{name} {counter}", ctx.prompt, ctx.extra_pnginfo)

    return save_numbered(ctx.folders.output, filename_prefix, sd, metadata)


@register_node("CheckpointSave", category=CATEGORY, display_name="Save Checkpoint", output_node=True)
class CheckpointSave(Node):
    """Saves model, text encoder and VAE as one checkpoint (original layout, with LoRAs and
    merges applied) in the output folder; the workflow goes into its metadata."""

    model = Socket("MODEL")
    clip = Socket("CLIP")
    vae = Socket("VAE")
    filename_prefix = String(default="checkpoints/ComfyUI")
    OUTPUTS = ()

    def execute(self, ctx, model, clip, vae, filename_prefix: str) -> NodeOutput:
        save_checkpoint_file(ctx, model, clip, vae, filename_prefix)
        return NodeOutput((), {})


@register_node("ModelSave", category=CATEGORY, output_node=True)
class ModelSave(Node):
    """Saves the diffusion model alone (model.diffusion_model.* keys) in the output folder."""

    model = Socket("MODEL")
    filename_prefix = String(default="diffusion_models/ComfyUI")
    OUTPUTS = ()

    def execute(self, ctx, model, filename_prefix: str) -> NodeOutput:
        save_checkpoint_file(ctx, model, None, None, filename_prefix)
        return NodeOutput((), {})


@register_node("CLIPSave", category=CATEGORY, output_node=True)
class CLIPSave(Node):
    """Saves each text encoder as its own file, `<prefix>_clip_<l|g|h>_NNNNN_.safetensors`
    (transformers' key layout, as ComfyUI writes them)."""

    clip = Socket("CLIP")
    filename_prefix = String(default="clip/ComfyUI")
    OUTPUTS = ()

    def execute(self, ctx, clip, filename_prefix: str) -> NodeOutput:
        from diffusion.checkpoint_save import clip_state_dicts, prompt_metadata

        found = {"format": "pt", **prompt_metadata(ctx.prompt, ctx.extra_pnginfo)}
        for name, sd in clip_state_dicts(clip).items():
            save_numbered(ctx.folders.output, f"{filename_prefix}_clip_{name}", sd, lambda *_: found)
        return NodeOutput((), {})


@register_node("VAESave", category=CATEGORY, output_node=True)
class VAESave(Node):
    """Saves the VAE (original layout, no prefix) in the output folder."""

    vae = Socket("VAE")
    filename_prefix = String(default="vae/ComfyUI_vae")
    OUTPUTS = ()

    def execute(self, ctx, vae, filename_prefix: str) -> NodeOutput:
        from diffusion.checkpoint_save import vae_state_dict

        save_numbered(ctx.folders.output, filename_prefix, vae_state_dict(vae), _prompt_metadata(ctx))
        return NodeOutput((), {})


@register_node("LoraSave", category="_for_testing", display_name="Extract and Save Lora", output_node=True)
class LoraSave(Node):
    """Turns a model / text-encoder difference (ModelMergeSubtract, CLIPMergeSubtract) into a
    LoRA file by SVD of each weight, saved in the output folder."""

    filename_prefix = String(default="loras/ComfyUI_extracted_lora")
    rank = Int(default=8, min=1, max=4096, step=1)
    lora_type = Combo(choices=LORA_TYPES)
    bias_diff = Boolean(default=True)
    model_diff = Socket("MODEL", optional=True, tooltip="The ModelSubtract output to be converted to a lora.")
    text_encoder_diff = Socket("CLIP", optional=True, tooltip="The CLIPSubtract output to be converted to a lora.")
    OUTPUTS = ()

    def execute(self, ctx, filename_prefix: str, rank: int, lora_type: str, bias_diff: bool,
                model_diff=None, text_encoder_diff=None) -> NodeOutput:
        if model_diff is None and text_encoder_diff is None:
            return NodeOutput((), {})
        from diffusion.lora_extract import extract_lora_state_dict

        sd = extract_lora_state_dict(model_diff, text_encoder_diff, rank, lora_type, bias_diff)
        save_numbered(ctx.folders.output, filename_prefix, sd, lambda *_: None)
        return NodeOutput((), {})
