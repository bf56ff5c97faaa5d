"""Loading SD1/SD2/SDXL checkpoints into MODEL, CLIP and VAE values, offline.

Two inputs are understood: a single original-layout file (.safetensors/.ckpt, as
ComfyUI loads them) and a diffusers pipeline folder (model_index.json). Single files are
built from shipped configs sized by the file's own shapes (diffusion/convert.py), on the
meta device, so no random init and no hub access happen; folders use their own configs
through from_pretrained(local_files_only=True). The hub is switched off for the process.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

import torch

from . import convert, precision
from .checkpoint_io import read_state_dict
from .device import default_device, default_dtype
from .families import (
    SD1_CLIP_PREFIX,
    SD2_CLIP_PREFIX,
    SDXL_CLIP_G_PREFIX,
    SDXL_CLIP_L_PREFIX,
    SDXL_REFINER_CLIP_G_PREFIX,
    VAE_PREFIX,
    StateDict,
    context_width,
    describe_keys,
    detect_family,
    detect_prediction_type,
    is_sdxl_refiner,
    sdxl_size_ids,
)
from .memory_manager import MANAGER
from .model import DiffusionModel
from .types import ModelFamily, PredictionType
from .vae import VAE

if TYPE_CHECKING:  # imported lazily: the text encoder pulls in the tokenizer
    from .text_encoder import ClipEncoderSpec, TextEncoder

PathLike = Union[str, os.PathLike]
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_off() -> None:
    """Switch the Hugging Face hub off for this process (env and already-read constants)."""
    for name in _OFFLINE_ENV:
        os.environ[name] = "1"
    try:
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover - huggingface_hub always comes with diffusers
        pass


hub_off()


@dataclass
class CheckpointParts:
    """What CheckpointLoaderSimple outputs: MODEL, CLIP, VAE (and the family found)."""

    model: DiffusionModel
    clip: "TextEncoder"
    vae: VAE
    family: ModelFamily


def _resolve(device: Optional[torch.device], dtype: Optional[torch.dtype],
             kind: Optional[str] = None) -> tuple[torch.device, torch.dtype]:
    """The device, and the weight dtype: the caller's, else the precision flags' for `kind`
    ("unet", "vae", "text_encoder"), else the device's default."""
    device = torch.device(device) if device is not None else default_device()
    if kind is not None:
        return device, precision.weights_dtype(kind, device, dtype)
    return device, dtype if dtype is not None else default_dtype(device)


# ----------------------------------------------------------------------------- building modules


def instantiate(
    factory: Callable[[], torch.nn.Module], state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype, what: str
) -> torch.nn.Module:
    """Build a module on the meta device and adopt `state_dict`'s tensors (cast to dtype).

    Exact key match is required; a mismatch raises ValueError naming a few keys."""
    with torch.device("meta"):
        module = factory()
    expected = set(module.state_dict().keys())
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{what}: weights do not fit the model built from the checkpoint's shapes: "
            f"missing {len(missing)} {missing[:5]}, unexpected {len(unexpected)} {unexpected[:5]}"
        )
    cast = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}
    try:
        module.load_state_dict(cast, strict=True, assign=True)
    except RuntimeError as exc:
        raise ValueError(f"{what}: {exc}") from exc
    _rebuild_meta_buffers(module, what)
    return module.eval().requires_grad_(False)


def _rebuild_meta_buffers(module: torch.nn.Module, what: str) -> None:
    """Non-persistent buffers are not in any file; recompute the ones we know."""
    for name, buf in list(module.named_buffers()):
        if not buf.is_meta:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if attr == "position_ids":
            value = torch.arange(buf.shape[-1]).expand(buf.shape)
            owner.register_buffer(attr, value, persistent=False)
        else:
            raise ValueError(f"{what}: buffer {name} has no value in the checkpoint")


def _unet_from_single_file(sd: StateDict, family: ModelFamily, dtype: torch.dtype) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    proj = sd.get(SDXL_CLIP_G_PREFIX + "text_projection", sd.get(SDXL_REFINER_CLIP_G_PREFIX + "text_projection"))
    config = convert.unet_config(sd, family, pooled_dim=None if proj is None else int(proj.shape[1]),
                                 size_ids=sdxl_size_ids(sd, context_width(sd)))
    weights = convert.convert_unet(sd, config)
    return instantiate(lambda: UNet2DConditionModel.from_config(config), weights, dtype, "UNet")


def vae_from_state_dict(vae_sd: StateDict, family: ModelFamily, dtype: torch.dtype) -> torch.nn.Module:
    """An AutoencoderKL from a prefix-less VAE state dict in LDM or diffusers layout."""
    from diffusers import AutoencoderKL

    vae_sd = convert.vae_only(vae_sd)
    if not vae_sd:
        raise ValueError("no VAE weights (encoder.*, decoder.*) found")
    config = convert.vae_config(vae_sd, family)
    weights = convert.convert_vae(vae_sd, config)
    return instantiate(lambda: AutoencoderKL.from_config(config), weights, dtype, "VAE")


def _clip_model(config: dict[str, Any], weights: StateDict, dtype: torch.dtype, projection: bool, what: str):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(**{k: v for k, v in config.items() if k != "model_type"})
    if projection:
        return instantiate(lambda: CLIPTextModelWithProjection(cfg), weights, dtype, what)
    return instantiate(lambda: CLIPTextModel(cfg), convert.for_text_model(weights), dtype, what)


def build_text_encoders(
    sd: StateDict, family: ModelFamily, device: torch.device, dtype: torch.dtype
) -> list["ClipEncoderSpec"]:
    """The ClipEncoderSpec list of an original-layout checkpoint (see text_encoder.py)."""
    from .text_encoder import ClipEncoderSpec

    def on_device(model: torch.nn.Module) -> torch.nn.Module:
        return MANAGER.place(model, device)

    def hf_clip(prefix: str, base_part: str, what: str) -> torch.nn.Module:
        weights = convert.convert_clip_l(sd, prefix)
        if not weights:
            raise ValueError(f"no {what} weights under {prefix!r} (found {describe_keys(sd)})")
        config = convert.hf_clip_config(weights, convert.load_base_config(family, base_part))
        return on_device(_clip_model(config, weights, dtype, False, what))

    def open_clip(prefix: str, base_part: str, projection: bool, what: str) -> torch.nn.Module:
        config = convert.open_clip_config(sd, prefix, convert.load_base_config(family, base_part))
        weights = convert.convert_open_clip(sd, prefix, config)
        return on_device(_clip_model(config, weights, dtype, projection, what))

    if family == ModelFamily.SD1:
        model = hf_clip(SD1_CLIP_PREFIX, "text_encoder", "CLIP-L text encoder")
        return [ClipEncoderSpec("l", model, True, -1, True, False)]
    if family == ModelFamily.SD2:
        model = open_clip(SD2_CLIP_PREFIX, "text_encoder", False, "OpenCLIP-H text encoder")
        return [ClipEncoderSpec("h", model, False, -2, True, False)]
    if is_sdxl_refiner(sd):
        model_g = open_clip(SDXL_REFINER_CLIP_G_PREFIX, "text_encoder_2", True, "OpenCLIP-G text encoder")
        return [ClipEncoderSpec("g", model_g, False, -2, False, True)]
    model_l = hf_clip(SDXL_CLIP_L_PREFIX, "text_encoder", "CLIP-L text encoder")
    model_g = open_clip(SDXL_CLIP_G_PREFIX, "text_encoder_2", True, "OpenCLIP-G text encoder")
    return [
        ClipEncoderSpec("l", model_l, True, -2, False, False),
        ClipEncoderSpec("g", model_g, False, -2, False, True),
    ]


# ----------------------------------------------------------------------------- public API


def load_checkpoint(
    path: PathLike,
    *,
    device: Optional[torch.device] = None,
    dtype: Optional[torch.dtype] = None,
    prediction_type: Union[PredictionType, str, None] = None,
) -> CheckpointParts:
    """Load a single-file SD1/SD2/SDXL checkpoint or a diffusers pipeline folder.

    `prediction_type` overrides what the file says (a `v_pred` key, or the folder's
    scheduler config). Raises ValueError with what was found for anything unrecognised."""
    hub_off()
    explicit = dtype
    device, dtype = _resolve(device, dtype)
    path = Path(path)
    if path.is_dir():
        return _load_diffusers_folder(path, device, dtype, prediction_type)
    from .text_encoder import TextEncoder

    sd = read_state_dict(path)
    family = detect_family(sd)
    pred = detect_prediction_type(sd, prediction_type)
    unet_dtype = precision.weights_dtype("unet", device, explicit)
    unet = MANAGER.place(_unet_from_single_file(sd, family, unet_dtype), device)
    vae_sd = convert.strip_prefix(sd, VAE_PREFIX)
    if not vae_sd:
        raise ValueError(f"{path.name}: no VAE weights under {VAE_PREFIX!r} (found {describe_keys(sd)})")
    text_dtype = precision.weights_dtype("text_encoder", device, explicit)
    encoders = build_text_encoders(sd, family, device, text_dtype)
    return CheckpointParts(
        model=DiffusionModel(unet, family, pred, device, precision.compute_dtype(unet_dtype, device),
                             size_ids=sdxl_size_ids(sd, context_width(sd))),
        clip=TextEncoder(family, encoders, device, text_dtype),
        vae=_vae(vae_from_state_dict, (vae_sd, family), device, explicit),
        family=family,
    )


def _vae(build: Callable[..., torch.nn.Module], args: tuple, device: torch.device,
         explicit: Optional[torch.dtype]) -> VAE:
    """A VAE value in the flags' precision and on their device (--cpu-vae)."""
    where = precision.vae_device(device)
    dtype = precision.weights_dtype("vae", where, explicit)
    return VAE(MANAGER.place(build(*args, dtype), where), where, dtype)


def load_vae(
    path: PathLike, *, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None
) -> VAE:
    """Load a standalone VAE: a file in original (encoder.down.0...) or diffusers layout,
    optionally under first_stage_model./vae., or a diffusers AutoencoderKL folder."""
    hub_off()
    device, dtype = _resolve(device, dtype)
    path = Path(path)
    if path.is_dir():
        from diffusers import AutoencoderKL

        sub = "vae" if (path / "vae" / "config.json").is_file() else None
        module = AutoencoderKL.from_pretrained(
            str(path), subfolder=sub, local_files_only=True, torch_dtype=dtype, **_variant(path / (sub or ""))
        )
        return VAE(MANAGER.place(module, device), device, dtype)
    return load_vae_state_dict(read_state_dict(path), device=device, dtype=dtype, name=path.name)


def load_vae_state_dict(
    sd: StateDict, *, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None,
    name: str = "the state dict",
) -> VAE:
    """A VAE from weights in original or diffusers layout (optionally under first_stage_model./vae.)."""
    explicit = dtype
    device, dtype = _resolve(device, dtype)
    for prefix in (VAE_PREFIX, "vae."):
        if any(k.startswith(prefix) for k in sd):
            sd = convert.strip_prefix(sd, prefix)
            break
    if "encoder.conv_in.weight" not in sd:
        raise ValueError(f"{name} is not a VAE: no encoder.conv_in.weight (found {describe_keys(sd)})")
    try:
        return _vae(vae_from_state_dict, (sd, ModelFamily.SD1), device, explicit)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


# ----------------------------------------------------------------------------- diffusers folders


def _variant(folder: Path) -> dict[str, str]:
    """{"variant": "fp16"} when a folder only holds fp16-variant weights."""
    files = [p.name for p in folder.glob("*") if p.suffix in (".safetensors", ".bin")]
    if files and all(".fp16." in name for name in files):
        return {"variant": "fp16"}
    return {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc


def folder_family(folder: Path) -> ModelFamily:
    """Family of a diffusers folder: SDXL pipelines by class name or a second text encoder;
    SD2 by its OpenCLIP text encoder (gelu), SD1 by CLIP-L (quick_gelu)."""
    index = _read_json(folder / "model_index.json")
    if "XL" in str(index.get("_class_name", "")) or (folder / "text_encoder_2").is_dir():
        return ModelFamily.SDXL
    text_cfg = _read_json(folder / "text_encoder" / "config.json")
    return ModelFamily.SD2 if text_cfg.get("hidden_act") == "gelu" else ModelFamily.SD1


def _load_diffusers_folder(
    folder: Path, device: torch.device, dtype: torch.dtype, prediction_type: Union[PredictionType, str, None]
) -> CheckpointParts:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from .text_encoder import ClipEncoderSpec, TextEncoder

    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{folder} is a folder but not a diffusers pipeline (no model_index.json)")
    family = folder_family(folder)
    if prediction_type is None:
        sched = folder / "scheduler" / "scheduler_config.json"
        prediction_type = _read_json(sched).get("prediction_type", "epsilon") if sched.is_file() else "epsilon"
    pred = PredictionType(prediction_type)

    def part(cls, sub: str, dtype_kw: str):
        if not (folder / sub).is_dir():
            raise ValueError(f"diffusers folder {folder.name} has no {sub}/")
        kwargs = {"subfolder": sub, "local_files_only": True, dtype_kw: dtype, **_variant(folder / sub)}
        return MANAGER.place(cls.from_pretrained(str(folder), **kwargs), device).eval().requires_grad_(False)

    unet = part(UNet2DConditionModel, "unet", "torch_dtype")
    vae = part(AutoencoderKL, "vae", "torch_dtype")
    size_ids = 6
    if family == ModelFamily.SDXL and not (folder / "text_encoder").is_dir():  # the refiner: G alone
        model_g = part(CLIPTextModelWithProjection, "text_encoder_2", "dtype")
        encoders = [ClipEncoderSpec("g", model_g, False, -2, False, True)]
        cfg = unet.config
        size_ids = (cfg.projection_class_embeddings_input_dim - model_g.config.projection_dim) // cfg.addition_time_embed_dim
    elif family == ModelFamily.SDXL:
        encoders = [
            ClipEncoderSpec("l", part(CLIPTextModel, "text_encoder", "dtype"), True, -2, False, False),
            ClipEncoderSpec("g", part(CLIPTextModelWithProjection, "text_encoder_2", "dtype"), False, -2, False, True),
        ]
    elif family == ModelFamily.SD2:
        model = part(CLIPTextModel, "text_encoder", "dtype")
        # diffusers' SD2 folders drop OpenCLIP-H's last layer (23 of 24): their last layer
        # is the penultimate one SD2 was trained on.
        layer = -1 if model.config.num_hidden_layers == 23 else -2
        encoders = [ClipEncoderSpec("h", model, False, layer, True, False)]
    else:
        encoders = [ClipEncoderSpec("l", part(CLIPTextModel, "text_encoder", "dtype"), True, -1, True, False)]
    return CheckpointParts(
        model=DiffusionModel(unet, family, pred, device, dtype, size_ids=size_ids),
        clip=TextEncoder(family, encoders, device, dtype),
        vae=VAE(vae, device, dtype),
        family=family,
    )
