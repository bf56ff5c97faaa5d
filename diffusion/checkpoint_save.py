"""Saving MODEL / CLIP / VAE values as safetensors files, weights as the values compute them.

The files use the original (LDM / ComfyUI) key layout that this app's loaders and ComfyUI
both read (export.py does the renaming). A value's weight patches (LoRAs, merges) are
applied while its state is read, so a saved merge is the merged model, and the shared
base tensors are put back untouched afterwards. A file is never overwritten: the name is
claimed by an exclusive create before anything is written.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Union

import torch

from .export import clip_to_original, open_clip_to_original, unet_to_original, vae_to_original
from .key_patches import transformer_name
from .patching import patched
from .types import ModelFamily, PredictionType

if TYPE_CHECKING:  # pragma: no cover
    from .model import DiffusionModel
    from .text_encoder import TextEncoder
    from .vae import VAE

# Where each text encoder goes in a single-file checkpoint, by the encoders a CLIP value holds.
CHECKPOINT_CLIP_PREFIXES = {
    ("l",): {"l": ("cond_stage_model.transformer.", False)},
    ("h",): {"h": ("cond_stage_model.model.", True)},
    ("l", "g"): {"l": ("conditioner.embedders.0.transformer.", False), "g": ("conditioner.embedders.1.model.", True)},
    ("g",): {"g": ("conditioner.embedders.0.model.", True)},  # SDXL's refiner
}
VAE_PREFIX = "first_stage_model."
PREDICT_KEYS = {PredictionType.EPSILON: "epsilon", PredictionType.V_PREDICTION: "v"}


@contextlib.contextmanager
def weights_applied(model: Optional["DiffusionModel"] = None, clip: Optional["TextEncoder"] = None) -> Iterator[None]:
    """The shared modules carry these values' weight patches inside the context."""
    with contextlib.ExitStack() as stack:
        if model is not None:
            stack.enter_context(patched(model.unet, model.patches))
        if clip is not None:
            for spec in clip.encoders:
                stack.enter_context(patched(spec.model, clip.patches_of(spec)))
        yield


def _for_file(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors, no two sharing memory (safetensors refuses that); tensors
    already fit are kept as they are rather than copied."""
    out, seen = {}, set()
    for key, value in sd.items():
        value = value.detach()
        if value.device.type != "cpu":
            value = value.to("cpu")
        storage = value.untyped_storage().data_ptr()
        if storage in seen or not value.is_contiguous():
            value = value.contiguous().clone()
            storage = value.untyped_storage().data_ptr()
        seen.add(storage)
        out[key] = value
    return out


def _clip_original(clip: "TextEncoder") -> dict[str, torch.Tensor]:
    names = tuple(spec.name for spec in clip.encoders)
    prefixes = CHECKPOINT_CLIP_PREFIXES.get(names)
    if prefixes is None:
        raise ValueError(f"cannot save text encoders clip_{'+'.join(names)} in a checkpoint")
    sd = {}
    for spec in clip.encoders:
        prefix, open_clip = prefixes[spec.name]
        sd.update(open_clip_to_original(spec.model, prefix) if open_clip else clip_to_original(spec.model, prefix))
    return sd


def checkpoint_state_dict(model: "DiffusionModel", clip: Optional["TextEncoder"] = None,
                          vae: Optional["VAE"] = None) -> dict[str, torch.Tensor]:
    """One original-layout state dict: model.diffusion_model.*, the text encoders under their
    family's prefixes, first_stage_model.*, and `v_pred` for v-prediction models."""
    with weights_applied(model, clip):
        sd = unet_to_original(model.unet)
        if clip is not None:
            sd.update(_clip_original(clip))
        if vae is not None:
            sd.update({VAE_PREFIX + k: v for k, v in vae_to_original(vae.vae).items()})
        sd = _for_file(sd)
    if model.prediction_type == PredictionType.V_PREDICTION:
        sd["v_pred"] = torch.tensor([])
    return sd


def clip_state_dicts(clip: "TextEncoder") -> dict[str, dict[str, torch.Tensor]]:
    """Each encoder's weights (as the value computes them) in transformers' layout, by encoder
    name: the per-encoder files ComfyUI's CLIPSave writes."""
    out = {}
    with weights_applied(clip=clip):
        for spec in clip.encoders:
            out[spec.name] = _for_file({transformer_name(k): v for k, v in spec.model.state_dict().items()})
    return out


def vae_state_dict(vae: "VAE") -> dict[str, torch.Tensor]:
    """The VAE's weights in the original layout, without a prefix (as ComfyUI's VAESave)."""
    return _for_file(vae_to_original(vae.vae))


def prompt_metadata(prompt: Optional[dict], extra_pnginfo: Optional[dict]) -> dict[str, str]:
    """`prompt` (the API-format workflow, "" when unknown) and one JSON entry per extra
    (`workflow`), as ComfyUI writes them into saved models."""
    metadata = {"prompt": json.dumps(prompt) if prompt is not None else ""}
    for key, value in (extra_pnginfo or {}).items():
        metadata[key] = json.dumps(value)
    return metadata


def checkpoint_metadata(model: "DiffusionModel", title: str, prompt: Optional[dict] = None,
                        extra_pnginfo: Optional[dict] = None) -> dict[str, str]:
    """ComfyUI's checkpoint metadata: the model spec for SDXL, the prediction type, the prompt."""
    metadata: dict[str, str] = {}
    if model.family == ModelFamily.SDXL:
        architecture = "stable-diffusion-xl-v1-refiner" if getattr(model, "is_sdxl_refiner", False) \
            else "stable-diffusion-xl-v1-base"
        metadata.update({"modelspec.architecture": architecture,
                         "modelspec.sai_model_spec": "1.0.0", "modelspec.implementation": "sgm",
                         "modelspec.title": title})
    predict_key = PREDICT_KEYS.get(PredictionType(model.prediction_type))
    if predict_key is not None:
        metadata["modelspec.predict_key"] = predict_key
    metadata.update(prompt_metadata(prompt, extra_pnginfo))
    return metadata


def write_new_safetensors(sd: dict[str, torch.Tensor], path: Union[str, os.PathLike],
                          metadata: Optional[dict[str, str]] = None) -> Path:
    """Write `sd` to `path`, which must not exist yet (FileExistsError otherwise): the name is
    claimed first, the data goes to a hidden file beside it that then replaces the claim, so
    a reader never sees half a file under the final name."""
    from safetensors.torch import save_file

    path = Path(path)
    with open(path, "xb"):
        pass
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        save_file(sd, partial, metadata=metadata)
        os.replace(partial, path)
    except BaseException:
        for leftover in (partial, path):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        raise
    return path
