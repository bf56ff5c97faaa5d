"""Loaders for a checkpoint's parts and older forms: a UNet alone, text encoders alone (one,
or SDXL's pair), a checkpoint with its YAML config, and a diffusers folder."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .loaders import _file_fingerprint, _models, with_embeddings
from .registry import Node, register_node
from .spec import Combo, Output

log = logging.getLogger(__name__)

CLIP_TYPES = ["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2", "ovis"]
DUAL_CLIP_TYPES = ["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image", "hunyuan_video_15",
                   "kandinsky5", "kandinsky5_image"]
WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
LOADERS = "advanced/loaders"


def _device_for(device: str):
    import torch

    return torch.device("cpu") if device == "cpu" else None


@register_node("UNETLoader", category=LOADERS, display_name="Load Diffusion Model")
class UNETLoader(Node):
    """Loads a UNet on its own (models/diffusion_models), for checkpoints shipped in parts."""

    unet_name = Combo(choices=_models("diffusion_models"))
    weight_dtype = Combo(choices=WEIGHT_DTYPES)
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, unet_name: str, weight_dtype: str) -> tuple:
        from diffusion.component_loader import load_unet

        if weight_dtype != "default":
            log.warning("UNETLoader: %s weights are not supported here; %s loads in the default precision",
                        weight_dtype, unet_name)
        return (load_unet(ctx.folders.model_path("diffusion_models", unet_name)),)

    @classmethod
    def fingerprint(cls, folders: Any, unet_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "diffusion_models", unet_name)


def _check_type(kind: str, supported: str) -> None:
    if kind != supported:
        raise ValueError(f"text encoders of type {kind!r} are for other model families; this app runs "
                         f"Stable Diffusion 1.x, 2.x and SDXL ({supported!r})")


@register_node("CLIPLoader", category=LOADERS, display_name="Load CLIP")
class CLIPLoader(Node):
    """Loads one text encoder (models/text_encoders): SD1's CLIP-L or SD2's OpenCLIP-H."""

    clip_name = Combo(choices=_models("text_encoders"))
    type = Combo(choices=CLIP_TYPES)
    device = Combo(choices=["default", "cpu"], optional=True)
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip_name: str, type: str, device: str = "default") -> tuple:
        from diffusion.component_loader import load_text_encoders

        _check_type(type, "stable_diffusion")
        path = ctx.folders.model_path("text_encoders", clip_name)
        return (with_embeddings(ctx, load_text_encoders([path], device=_device_for(device))),)

    @classmethod
    def fingerprint(cls, folders: Any, clip_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "text_encoders", clip_name)


@register_node("DualCLIPLoader", category=LOADERS)
class DualCLIPLoader(Node):
    """Loads SDXL's two text encoders (CLIP-L and OpenCLIP-G, in either order)."""

    clip_name1 = Combo(choices=_models("text_encoders"))
    clip_name2 = Combo(choices=_models("text_encoders"))
    type = Combo(choices=DUAL_CLIP_TYPES)
    device = Combo(choices=["default", "cpu"], optional=True)
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip_name1: str, clip_name2: str, type: str, device: str = "default") -> tuple:
        from diffusion.component_loader import load_text_encoders

        _check_type(type, "sdxl")
        paths = [ctx.folders.model_path("text_encoders", name) for name in (clip_name1, clip_name2)]
        return (with_embeddings(ctx, load_text_encoders(paths, device=_device_for(device))),)

    @classmethod
    def fingerprint(cls, folders: Any, clip_name1: str = "", clip_name2: str = "", **_: Any) -> Any:
        return [_file_fingerprint(folders, "text_encoders", n) for n in (clip_name1, clip_name2)]


def read_config(path: Path) -> dict:
    """What a checkpoint's LDM YAML says that matters here: v-prediction and the CLIP layer."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    params = (config.get("model") or {}).get("params") or {}
    clip_params = (params.get("cond_stage_config") or {}).get("params") or {}
    return {"v_prediction": params.get("parameterization") == "v", "layer_idx": clip_params.get("layer_idx")}


@register_node("CheckpointLoader", category=LOADERS, display_name="Load Checkpoint With Config (DEPRECATED)")
class CheckpointLoader(Node):
    """Loads a checkpoint with an LDM YAML config (models/configs) that says whether it is
    v-prediction and which CLIP layer it uses; Load Checkpoint finds both by itself."""

    config_name = Combo(choices=_models("configs"))
    ckpt_name = Combo(choices=_models("checkpoints"))
    OUTPUTS = (Output("MODEL", "MODEL"), Output("CLIP", "CLIP"), Output("VAE", "VAE"))

    def execute(self, ctx, config_name: str, ckpt_name: str) -> tuple:
        from diffusion.loader import load_checkpoint

        config = read_config(ctx.folders.model_path("configs", config_name))
        parts = load_checkpoint(ctx.folders.model_path("checkpoints", ckpt_name),
                                prediction_type="v_prediction" if config["v_prediction"] else None)
        clip = parts.clip
        if config["layer_idx"] is not None:
            clip = clip.with_last_layer(int(config["layer_idx"]))
        return (parts.model, with_embeddings(ctx, clip), parts.vae)

    @classmethod
    def fingerprint(cls, folders: Any, config_name: str = "", ckpt_name: str = "", **_: Any) -> Any:
        return [_file_fingerprint(folders, "configs", config_name), _file_fingerprint(folders, "checkpoints", ckpt_name)]


def diffusers_folders(folders: Any) -> list[str]:
    """Every folder under models/diffusers that holds a diffusers pipeline (model_index.json)."""
    found: set[str] = set()
    for root in folders.model_dirs("diffusers") if folders is not None else []:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            if "model_index.json" in filenames:
                found.add(Path(dirpath).relative_to(root).as_posix())
                dirnames[:] = []
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(found, key=str.lower)


@register_node("DiffusersLoader", category="advanced/loaders/deprecated")
class DiffusersLoader(Node):
    """Loads a diffusers pipeline folder from models/diffusers (Load Checkpoint also reads
    such folders placed in models/checkpoints)."""

    model_path = Combo(choices=diffusers_folders)
    OUTPUTS = (Output("MODEL", "MODEL"), Output("CLIP", "CLIP"), Output("VAE", "VAE"))

    def execute(self, ctx, model_path: str) -> tuple:
        from diffusion.loader import load_checkpoint

        parts = load_checkpoint(ctx.folders.model_path("diffusers", model_path))
        return (parts.model, with_embeddings(ctx, parts.clip), parts.vae)
