"""ComfyUI's `comfy.sd`: loading checkpoints and LoRAs, and the CLIP / VAE classes.

`CLIP` and `VAE` answer isinstance for this app's text encoders and VAEs; `VAE(sd=...)`
builds one from a state dict, as packs do."""
from __future__ import annotations

import enum
from typing import Any, Optional

from diffusion.text_encoder import TextEncoder
from diffusion.vae import VAE as _StudioVAE

from comfy_compat.covers import Covers


class VAE(metaclass=Covers):
    covers = _StudioVAE

    def __new__(cls, sd: Optional[dict] = None, device: Any = None, config: Any = None, dtype: Any = None,
                metadata: Any = None) -> Any:
        from diffusion.loader import load_vae_state_dict

        if not sd:
            raise ValueError("ERROR: VAE is invalid: None (no VAE weights were given)")
        return load_vae_state_dict(sd, device=device, dtype=dtype)


class CLIP(metaclass=Covers):
    covers = TextEncoder

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from comfy_compat.placeholders import not_provided

        raise not_provided("comfy.sd.CLIP(...) (building a text encoder from parts)")


class CLIPType(enum.Enum):
    STABLE_DIFFUSION = 1
    STABLE_CASCADE = 2
    SD3 = 3
    STABLE_AUDIO = 4
    HUNYUAN_DIT = 5
    FLUX = 6
    MOCHI = 7
    LTXV = 8
    HUNYUAN_VIDEO = 9
    PIXART = 10
    COSMOS = 11
    LUMINA2 = 12
    WAN = 13
    HIDREAM = 14
    CHROMA = 15
    ACE = 16
    OMNIGEN2 = 17
    QWEN_IMAGE = 18
    HUNYUAN_IMAGE = 19
    HUNYUAN_VIDEO_15 = 20
    OVIS = 21
    KANDINSKY5 = 22
    KANDINSKY5_IMAGE = 23
    NEWBIE = 24


def load_checkpoint_guess_config(ckpt_path: str, output_vae: bool = True, output_clip: bool = True,
                                 output_clipvision: bool = False, embedding_directory: Any = None,
                                 output_model: bool = True, model_options: Optional[dict] = None,
                                 te_model_options: Optional[dict] = None, **_: Any) -> tuple:
    """(MODEL, CLIP, VAE, CLIP_VISION) from a checkpoint file (parts not asked for are None)."""
    from diffusion.embeddings import EmbeddingFolder
    from diffusion.loader import load_checkpoint
    from pathlib import Path

    from comfy_compat import runtime

    parts = load_checkpoint(Path(ckpt_path))
    dirs = [Path(embedding_directory)] if isinstance(embedding_directory, str) else \
        [Path(d) for d in embedding_directory] if embedding_directory else runtime.folders().model_dirs("embeddings")
    parts.clip.default_embeddings = EmbeddingFolder(dirs)
    return (parts.model if output_model else None, parts.clip if output_clip else None,
            parts.vae if output_vae else None, None)


def load_checkpoint(config_path: Any = None, ckpt_path: Optional[str] = None, output_vae: bool = True,
                    output_clip: bool = True, embedding_directory: Any = None, state_dict: Any = None,
                    config: Any = None) -> tuple:
    model, clip, vae, _ = load_checkpoint_guess_config(ckpt_path, output_vae, output_clip,
                                                       embedding_directory=embedding_directory)
    return model, clip, vae


def load_lora_for_models(model: Any, clip: Any, lora: dict, strength_model: float, strength_clip: float,
                         lora_metadata: Any = None) -> tuple:
    """(patched MODEL, patched CLIP) with a LoRA state dict; either may be None."""
    from diffusion.lora import resolve_lora

    found = resolve_lora(lora, model if strength_model else None, clip if strength_clip else None,
                         strength_model, strength_clip)
    new_model = model.with_patches(found.model) if model is not None and found.model else model
    new_clip = clip.with_patches(found.clip) if clip is not None and found.clip else clip
    return new_model, new_clip


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
