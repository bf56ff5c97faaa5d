"""Model loader nodes: checkpoints and standalone VAEs."""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .spec import Combo, Float, Output, Socket


def _file_fingerprint(folders: Any, kind: str, name: str) -> Any:
    """Reload a model when its file changes on disk."""
    if folders is None:
        return None
    try:
        stat = folders.model_path(kind, name).stat()
    except (OSError, ValueError):
        return None
    return [stat.st_size, stat.st_mtime_ns]


def with_embeddings(ctx: Any, clip: Any) -> Any:
    """The CLIP value with models/embeddings as its lookup for `embedding:NAME` in prompts."""
    from diffusion.embeddings import EmbeddingFolder

    clip.default_embeddings = EmbeddingFolder(ctx.folders.model_dirs("embeddings"))
    return clip


def _models(kind: str):
    def choices(folders: Any) -> list[str]:
        return folders.list_models(kind) if folders is not None else []

    return choices


@register_node("CheckpointLoaderSimple", category="loaders", display_name="Load Checkpoint")
class CheckpointLoaderSimple(Node):
    """Loads a Stable Diffusion checkpoint (SD1.x, SD2.x, SDXL; single file or diffusers folder)
    and gives its denoising model, text encoder and VAE."""

    ckpt_name = Combo(choices=_models("checkpoints"), tooltip="The checkpoint file in models/checkpoints.")
    OUTPUTS = (Output("MODEL", "MODEL"), Output("CLIP", "CLIP"), Output("VAE", "VAE"))

    def execute(self, ctx, ckpt_name: str) -> tuple:
        from diffusion.loader import load_checkpoint

        parts = load_checkpoint(ctx.folders.model_path("checkpoints", ckpt_name))
        return (parts.model, with_embeddings(ctx, parts.clip), parts.vae)

    @classmethod
    def fingerprint(cls, folders: Any, ckpt_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "checkpoints", ckpt_name)


@register_node("VAELoader", category="loaders", display_name="Load VAE")
class VAELoader(Node):
    """Loads a standalone VAE from models/vae to replace a checkpoint's own."""

    vae_name = Combo(choices=_models("vae"), tooltip="The VAE file in models/vae.")
    OUTPUTS = (Output("VAE", "VAE"),)

    def execute(self, ctx, vae_name: str) -> tuple:
        from diffusion.loader import load_vae

        return (load_vae(ctx.folders.model_path("vae", vae_name)),)

    @classmethod
    def fingerprint(cls, folders: Any, vae_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "vae", vae_name)


def _lora_strength(tooltip: str) -> Float:
    return Float(default=1.0, min=-100.0, max=100.0, step=0.01, tooltip=tooltip)


def _apply_lora(ctx, lora_name: str, model, clip, strength_model: float, strength_clip: float):
    """Shared body of the LoRA loaders: patched clones; the inputs stay as they were."""
    from diffusion.checkpoint_io import read_state_dict
    from diffusion.lora import resolve_lora

    if strength_model == 0 and strength_clip == 0:
        return model, clip
    sd = read_state_dict(ctx.folders.model_path("loras", lora_name))
    found = resolve_lora(sd, model if strength_model != 0 else None, clip if strength_clip != 0 else None,
                         strength_model, strength_clip)
    if found.unmatched and not found.model and not found.clip:
        raise ValueError(f"{lora_name}: no entry fits this model ({len(found.unmatched)} entries unmatched)")
    new_model = model.with_patches(found.model) if found.model else model
    new_clip = clip.with_patches(found.clip) if (clip is not None and found.clip) else clip
    return new_model, new_clip


@register_node("LoraLoader", category="loaders", display_name="Load LoRA")
class LoraLoader(Node):
    """Adds a LoRA to the model and the text encoder. The base weights are shared, never
    changed: the LoRA is added only while the patched copies run, and several chain."""

    model = Socket("MODEL", tooltip="The diffusion model the LoRA is applied to.")
    clip = Socket("CLIP", tooltip="The text encoder the LoRA is applied to.")
    lora_name = Combo(choices=_models("loras"), tooltip="The LoRA file in models/loras.")
    strength_model = _lora_strength("How strongly to change the diffusion model; negative inverts.")
    strength_clip = _lora_strength("How strongly to change the text encoder; negative inverts.")
    OUTPUTS = (Output("MODEL", "MODEL"), Output("CLIP", "CLIP"))

    def execute(self, ctx, model, clip, lora_name: str, strength_model: float, strength_clip: float) -> tuple:
        return _apply_lora(ctx, lora_name, model, clip, strength_model, strength_clip)

    @classmethod
    def fingerprint(cls, folders: Any, lora_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "loras", lora_name)


@register_node("LoraLoaderModelOnly", category="loaders", display_name="Load LoRA (model only)")
class LoraLoaderModelOnly(Node):
    """Adds a LoRA to the diffusion model only."""

    model = Socket("MODEL")
    lora_name = Combo(choices=_models("loras"))
    strength_model = Float(default=1.0, min=-100.0, max=100.0, step=0.01)
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model, lora_name: str, strength_model: float) -> tuple:
        return (_apply_lora(ctx, lora_name, model, None, strength_model, 0.0)[0],)

    @classmethod
    def fingerprint(cls, folders: Any, lora_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "loras", lora_name)
