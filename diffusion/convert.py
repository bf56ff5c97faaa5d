"""Original (LDM) single-file layout -> diffusers/transformers configs and state dicts.

Configs start from the full-size family configs shipped in `diffusion/configs/` and take
every size that shows in the weights from the checkpoint's shapes, so that smaller models
of the same architecture (the tests' tiny ones) load too. Key renaming is done by
diffusers' own single-file helpers, fed with an LDM-yaml-shaped dict that we build from
the shapes instead of fetching the original yaml. Rules for what shapes cannot tell
(attention heads) are in `unet_heads` and `clip_heads` and in configs/README.md.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from .families import LATENT_SCALES, UNET_PREFIX, StateDict, describe_keys
from .types import ModelFamily

CONFIG_DIR = Path(__file__).parent / "configs"
SD1_UNET_HEADS = 8  # SD1 attention uses 8 heads whatever the width
HEAD_CHANNELS = 64  # SD2/SDXL UNets and every CLIP use heads of 64 channels
X4_UPSCALER_HEADS = 8  # the x4 upscaler's UNet: 8 heads at every width


def load_base_config(family: ModelFamily, part: str) -> dict[str, Any]:
    """The shipped full-size diffusers config of `part` ("unet", "vae", "text_encoder",
    "text_encoder_2") for a family."""
    path = CONFIG_DIR / ModelFamily(family).value / f"{part}.json"
    if not path.is_file():
        raise ValueError(f"no shipped {part} config for {ModelFamily(family).value} ({path})")
    return json.loads(path.read_text())


def strip_prefix(sd: StateDict, prefix: str) -> dict[str, torch.Tensor]:
    """The entries under `prefix`, with the prefix removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in sd.items() if k.startswith(prefix)}


def _indices(sd: StateDict, pattern: str) -> list[int]:
    """Sorted distinct integers captured by `pattern` (a regex with one group) over the keys."""
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd for m in [rx.match(k)] if m})


def _need(sd: StateDict, key: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise ValueError(f"cannot read the {what}: key {key!r} missing (found {describe_keys(sd)})")
    return sd[key]


# ----------------------------------------------------------------------------- UNet


def unet_heads(family: ModelFamily, block_out_channels: list[int]) -> Any:
    """Attention heads per block (diffusers' `attention_head_dim`): SD1 8, else channels//64."""
    if family == ModelFamily.SD1:
        return SD1_UNET_HEADS
    return [max(1, c // HEAD_CHANNELS) for c in block_out_channels]


def ldm_unet_params(unet: StateDict) -> dict[str, Any]:
    """The `unet_config.params` of an LDM yaml, read from the shapes of a prefix-less UNet."""
    conv_in = _need(unet, "input_blocks.0.0.weight", "UNet input conv")
    model_channels = int(conv_in.shape[0])
    n_input = max(_indices(unet, r"input_blocks\.(\d+)\."))
    downsamples = [i for i in range(1, n_input + 1) if f"input_blocks.{i}.0.op.weight" in unet]
    levels = len(downsamples) + 1
    if (n_input + 1) % levels:
        raise ValueError(f"unrecognised UNet layout: {n_input} input blocks over {levels} levels")
    res_blocks = (n_input + 1) // levels - 1
    channel_mult, attention_res, depth, cross_only = [], [], [], []
    for level in range(levels):
        first = 1 + level * (res_blocks + 1)
        width = int(_need(unet, f"input_blocks.{first}.0.out_layers.3.weight", "UNet block width").shape[0])
        channel_mult.append(width // model_channels)
        blocks = _indices(unet, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\.")
        if blocks:
            attention_res.append(2**level)
        depth.append(len(blocks))
        # A block whose first attention reads the text instead of its own features (the x4
        # upscaler's); where both are as wide the weights cannot tell, and it is self-attention.
        attn1 = unet.get(f"input_blocks.{first}.1.transformer_blocks.0.attn1.to_k.weight")
        cross_only.append(attn1 is not None and int(attn1.shape[1]) != width)
    mid_depth = len(_indices(unet, r"middle_block\.1\.transformer_blocks\.(\d+)\."))
    to_k = [v for k, v in unet.items() if k.endswith("attn2.to_k.weight")]
    proj_in = [v for k, v in unet.items() if k.endswith(".1.proj_in.weight")]
    if not to_k or not proj_in or not mid_depth:
        raise ValueError("unrecognised UNet: no cross-attention transformer in the middle block")
    params: dict[str, Any] = {
        "in_channels": int(conv_in.shape[1]),
        "out_channels": int(_need(unet, "out.2.weight", "UNet output conv").shape[0]),
        "model_channels": model_channels,
        "channel_mult": channel_mult,
        "num_res_blocks": res_blocks,
        "attention_resolutions": attention_res,
        "transformer_depth": depth,
        "mid_transformer_depth": mid_depth,
        "context_dim": int(to_k[0].shape[1]),
        "use_linear_in_transformer": proj_in[0].ndim == 2,
        "num_head_channels": HEAD_CHANNELS,
    }
    if "label_emb.0.0.weight" in unet:
        params["num_classes"] = "sequential"
        params["adm_in_channels"] = int(unet["label_emb.0.0.weight"].shape[1])
    elif "label_emb.weight" in unet:  # a class table: the x4 upscaler's noise level
        params["num_classes"] = int(unet["label_emb.weight"].shape[0])
    if any(cross_only):
        params["disable_self_attentions"] = cross_only
    return params


def unet_config(sd: StateDict, family: ModelFamily, pooled_dim: Optional[int] = None,
                size_ids: int = 6) -> dict[str, Any]:
    """The diffusers UNet2DConditionModel config of an original-layout checkpoint.

    `pooled_dim` is the width of SDXL's pooled text embedding (OpenCLIP-G projection);
    the rest of SDXL's ADM input is `size_ids` sinusoidal embeddings (6 sizes for the base
    model, 4 sizes and the aesthetic score for the refiner)."""
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    params = ldm_unet_params(strip_prefix(sd, UNET_PREFIX))
    ldm_yaml = {
        "model": {
            "params": {
                "unet_config": {"params": params},
                "first_stage_config": {"params": {"ddconfig": {"ch_mult": [1, 2, 4, 4]}}},
            }
        }
    }
    derived = create_unet_diffusers_config_from_ldm(ldm_yaml, {})
    base = load_base_config(family, "unet")
    config = {k: v for k, v in base.items() if not k.startswith("_")}
    for key in ("sample_size", "class_embed_type", "addition_embed_type", "addition_time_embed_dim"):
        derived.pop(key, None)
    config.update(derived)
    config["attention_head_dim"] = unet_heads(family, config["block_out_channels"])
    if isinstance(params.get("num_classes"), int):
        config["attention_head_dim"] = X4_UPSCALER_HEADS
    # Levels without attention take depth 1 as in diffusers' configs, except the last,
    # whose depth diffusers also uses for the middle block.
    depth = [d or 1 for d in params["transformer_depth"]]
    depth[-1] = params["transformer_depth"][-1] or params["mid_transformer_depth"]
    if depth[-1] != params["mid_transformer_depth"]:
        raise ValueError(f"unsupported UNet: middle depth {params['mid_transformer_depth']} != last level {depth[-1]}")
    config["transformer_layers_per_block"] = depth if len(set(depth)) > 1 else depth[0]
    config["class_embed_type"] = None
    if family == ModelFamily.SDXL:
        adm = params.get("adm_in_channels")
        if adm is None:
            raise ValueError("SDXL UNet without label_emb (the pooled-text + size embedding)")
        pooled = pooled_dim if pooled_dim is not None else adm - size_ids * base["addition_time_embed_dim"]
        if (adm - pooled) % size_ids or adm <= pooled:
            raise ValueError(f"SDXL label_emb input {adm} does not fit pooled width {pooled} + {size_ids} time ids")
        config.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=(adm - pooled) // size_ids,
            projection_class_embeddings_input_dim=adm,
        )
    else:
        for key in ("addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim"):
            config.pop(key, None)
    return config


def convert_unet(sd: StateDict, config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename an original-layout UNet (keys under model.diffusion_model.) to diffusers keys."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    unet_only = {k: v for k, v in sd.items() if k.startswith(UNET_PREFIX)}
    return convert_ldm_unet_checkpoint(unet_only, dict(config))


# ----------------------------------------------------------------------------- VAE

VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def vae_only(sd: StateDict) -> dict[str, torch.Tensor]:
    """The autoencoder entries of a prefix-less VAE state dict (drops EMA counters etc.)."""
    return {k: v for k, v in sd.items() if k.startswith(VAE_PARTS)}


def is_ldm_vae(vae: StateDict) -> bool:
    """True for the original layout (encoder.down.0.block.0...), False for diffusers'."""
    return any(k.startswith("encoder.down.") for k in vae)


def vae_config(vae: StateDict, family: ModelFamily = ModelFamily.SD1) -> dict[str, Any]:
    """The diffusers AutoencoderKL config of a prefix-less VAE, in either layout."""
    base = {k: v for k, v in load_base_config(family, "vae").items() if not k.startswith("_")}
    conv_in = _need(vae, "encoder.conv_in.weight", "VAE input conv")
    if is_ldm_vae(vae):
        from diffusers.loaders.single_file_utils import create_vae_diffusers_config_from_ldm

        ch = int(conv_in.shape[0])
        levels = _indices(vae, r"encoder\.down\.(\d+)\.")
        mult = [int(vae[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) // ch for i in levels]
        ddconfig = {
            "ch": ch,
            "ch_mult": mult,
            "num_res_blocks": len(_indices(vae, r"encoder\.down\.0\.block\.(\d+)\.")),
            "in_channels": int(conv_in.shape[1]),
            "out_ch": int(_need(vae, "decoder.conv_out.weight", "VAE output conv").shape[0]),
            "z_channels": int(_need(vae, "decoder.conv_in.weight", "VAE decoder input").shape[1]),
        }
        ldm_yaml = {
            "model": {
                "params": {
                    "first_stage_config": {"params": {"ddconfig": ddconfig}},
                    "scale_factor": LATENT_SCALES[family],
                }
            }
        }
        derived = create_vae_diffusers_config_from_ldm(ldm_yaml, {})
        derived.pop("sample_size", None)
    else:
        levels = _indices(vae, r"encoder\.down_blocks\.(\d+)\.")
        derived = {
            "in_channels": int(conv_in.shape[1]),
            "out_channels": int(_need(vae, "decoder.conv_out.weight", "VAE output conv").shape[0]),
            "block_out_channels": [int(vae[f"encoder.down_blocks.{i}.resnets.0.conv2.weight"].shape[0]) for i in levels],
            "down_block_types": ["DownEncoderBlock2D"] * len(levels),
            "up_block_types": ["UpDecoderBlock2D"] * len(levels),
            "layers_per_block": len(_indices(vae, r"encoder\.down_blocks\.0\.resnets\.(\d+)\.")),
            "latent_channels": int(_need(vae, "decoder.conv_in.weight", "VAE decoder input").shape[1]),
        }
    base.update(derived)
    return base


_OLD_DIFFUSERS_VAE_ATTN = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}


def convert_vae(vae: StateDict, config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A prefix-less VAE in either layout -> current diffusers AutoencoderKL keys."""
    if is_ldm_vae(vae):
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        return convert_ldm_vae_checkpoint(dict(vae), dict(config))
    out = {}
    for key, value in vae.items():
        for old, new in _OLD_DIFFUSERS_VAE_ATTN.items():
            key = key.replace(old, new)
        if ".attentions." in key and value.ndim == 4:  # 1x1 convs saved by old exporters
            value = value[:, :, 0, 0]
        out[key] = value
    return out


# ----------------------------------------------------------------------------- CLIP


def clip_heads(hidden_size: int) -> int:
    """CLIP attention heads: heads of 64 channels (CLIP-L 12, OpenCLIP-H 16, bigG 20)."""
    return max(1, hidden_size // HEAD_CHANNELS)


def _clip_config(base: Mapping[str, Any], **sizes: int) -> dict[str, Any]:
    config = {k: v for k, v in base.items() if not k.startswith("_") and k != "architectures"}
    config.update(sizes)
    config["num_attention_heads"] = clip_heads(sizes["hidden_size"])
    return config


def hf_clip_config(text: StateDict, base: Mapping[str, Any]) -> dict[str, Any]:
    """CLIPTextConfig kwargs for an HF-layout text model (keys `text_model.*`)."""
    tok = _need(text, "text_model.embeddings.token_embedding.weight", "CLIP token embedding")
    pos = _need(text, "text_model.embeddings.position_embedding.weight", "CLIP position embedding")
    fc1 = _need(text, "text_model.encoder.layers.0.mlp.fc1.weight", "CLIP MLP")
    sizes = dict(
        vocab_size=int(tok.shape[0]),
        hidden_size=int(tok.shape[1]),
        max_position_embeddings=int(pos.shape[0]),
        intermediate_size=int(fc1.shape[0]),
        num_hidden_layers=len(_indices(text, r"text_model\.encoder\.layers\.(\d+)\.")),
    )
    if "text_projection.weight" in text:
        sizes["projection_dim"] = int(text["text_projection.weight"].shape[0])
    else:
        sizes["projection_dim"] = base.get("projection_dim", sizes["hidden_size"])
    return _clip_config(base, **sizes)


def convert_clip_l(sd: StateDict, prefix: str) -> dict[str, torch.Tensor]:
    """HF-layout CLIP under `prefix` (e.g. cond_stage_model.transformer.) -> `text_model.*` keys."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint

    own = {k: v for k, v in sd.items() if k.startswith(prefix)}
    out = convert_ldm_clip_checkpoint(own, remove_prefix=prefix)
    # Files saved with old transformers lack the text_model. level.
    out = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in out.items()}
    out.pop("text_model.embeddings.position_ids", None)  # a buffer some exporters saved
    return out


_OPEN_CLIP_TMP = "open_clip."


def open_clip_config(sd: StateDict, prefix: str, base: Mapping[str, Any]) -> dict[str, Any]:
    """CLIPTextConfig kwargs for an OpenCLIP text tower under `prefix`, all layers kept."""
    tok = _need(sd, prefix + "token_embedding.weight", "OpenCLIP token embedding")
    pos = _need(sd, prefix + "positional_embedding", "OpenCLIP positional embedding")
    c_fc = _need(sd, prefix + "transformer.resblocks.0.mlp.c_fc.weight", "OpenCLIP MLP")
    proj = sd.get(prefix + "text_projection")
    hidden = int(tok.shape[1])
    return _clip_config(
        base,
        vocab_size=int(tok.shape[0]),
        hidden_size=hidden,
        max_position_embeddings=int(pos.shape[0]),
        intermediate_size=int(c_fc.shape[0]),
        num_hidden_layers=len(_indices(sd, re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.")),
        projection_dim=int(proj.shape[1]) if proj is not None else hidden,
    )


def convert_open_clip(sd: StateDict, prefix: str, config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """OpenCLIP text tower under `prefix` -> CLIPTextModelWithProjection keys.

    Re-keyed under a neutral prefix first: diffusers' converter silently drops layer 23
    of keys under cond_stage_model.model. (its SD2 recipe), and we keep every layer."""
    from types import SimpleNamespace

    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    own = {_OPEN_CLIP_TMP + k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    hidden = int(config["hidden_size"])
    qkv = own.get(_OPEN_CLIP_TMP + "transformer.resblocks.0.attn.in_proj_weight")
    if qkv is None or qkv.shape[0] != 3 * hidden:
        raise ValueError(f"OpenCLIP attention under {prefix!r} does not match width {hidden}")
    fake_model = SimpleNamespace(config=SimpleNamespace(hidden_size=hidden))
    return convert_open_clip_checkpoint(fake_model, own, prefix=_OPEN_CLIP_TMP)


def for_text_model(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`text_model.*` keys -> the prefix-less keys of transformers' CLIPTextModel (v5 layout);
    the projection is dropped (a CLIPTextModel has none)."""
    return {k[len("text_model."):]: v for k, v in sd.items() if k.startswith("text_model.")}
