"""Model loader nodes: checkpoints and standalone VAEs."""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .spec import Combo, Output


def _file_fingerprint(folders: Any, kind: str, name: str) -> Any:
    """Reload a model when its file changes on disk."""
    if folders is None:
        return None
    try:
        stat = folders.model_path(kind, name).stat()
    except (OSError, ValueError):
        return None
    return [stat.st_size, stat.st_mtime_ns]


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
        return (parts.model, parts.clip, parts.vae)

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
