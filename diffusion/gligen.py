"""GLIGEN (the GLIGEN socket): text boxes that place phrases in the image.

A GLIGEN file holds a position net (box coordinates as Fourier features + a phrase's
pooled text embedding -> one token per box) and one gated self-attention "fuser" per
transformer block of an SD1 UNet (``input_blocks.N.1.transformer_blocks.0.fuser.*``, then
the middle and output blocks). While a conditioning with boxes runs, `applied` lends the
fusers to the UNet's transformer blocks in the same order and hands the box tokens to
diffusers' own GLIGEN path (a fuser after each block's self-attention); outside that
call the UNet is untouched.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Iterator, Optional, Union

import torch
from torch import nn

from .checkpoint_io import read_state_dict
from .families import StateDict, describe_keys

MAX_OBJECTS = 30
SD1_CONTEXT = 768
SD1_HEADS = 8
HEAD_CHANNELS = 64
_SECTIONS = {"input_blocks": 0, "middle_block": 1, "output_blocks": 2}


class Gligen(nn.Module):
    """The position net and the fusers, in UNet transformer-block order."""

    def __init__(self, position_net: nn.Module, fusers: list[nn.Module], key_dim: int):
        super().__init__()
        self.position_net = position_net
        self.fusers = nn.ModuleList(fusers)
        self.key_dim = key_dim

    def box_inputs(self, boxes: list[tuple], batch: int, height: int, width: int) -> dict[str, torch.Tensor]:
        """The position net's inputs for (embedding, h, w, y, x) boxes in latent pixels on
        a `height` x `width` latent: corners as fractions, a mask of the used slots, and
        the phrase embeddings, padded to MAX_OBJECTS."""
        corners = torch.zeros(MAX_OBJECTS, 4)
        masks = torch.zeros(MAX_OBJECTS)
        phrases = torch.zeros(MAX_OBJECTS, self.key_dim)
        for i, (embedding, h, w, y, x) in enumerate(boxes[:MAX_OBJECTS]):
            corners[i] = torch.tensor([x / width, y / height, (x + w) / width, (y + h) / height])
            masks[i] = 1.0
            phrases[i] = embedding.reshape(-1)[: self.key_dim].float()
        return {"boxes": corners.expand(batch, -1, -1), "masks": masks.expand(batch, -1),
                "positive_embeddings": phrases.expand(batch, -1, -1)}


def transformer_blocks(unet: nn.Module) -> list[nn.Module]:
    """The UNet's BasicTransformerBlocks in LDM order: down blocks, middle, up blocks."""
    found = []
    stages = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    for stage in stages:
        for attention in getattr(stage, "attentions", None) or []:
            found.extend(getattr(attention, "transformer_blocks", []))
    return found


@contextlib.contextmanager
def applied(unet: nn.Module, gligen: Optional[tuple], latent_shape: torch.Size, device: torch.device,
            dtype: torch.dtype) -> Iterator[Optional[dict]]:
    """While open, the UNet carries the fusers; yields the `cross_attention_kwargs` for
    the call (None when there are no boxes to apply). `device` and `dtype` are the ones
    the UNet computes in (its weights may rest elsewhere or be stored in fp8)."""
    if not gligen or gligen[0] != "position":
        yield None
        return
    model: Gligen = gligen[1]
    blocks = transformer_blocks(unet)
    if len(blocks) != len(model.fusers):
        raise ValueError(f"GLIGEN has {len(model.fusers)} fusers, the UNet {len(blocks)} transformer blocks")
    batch, _, height, width = latent_shape
    inputs = {k: v.to(device, dtype) for k, v in model.box_inputs(gligen[2], batch, height, width).items()}
    model.to(device, dtype)
    saved_net = unet._modules.get("position_net")
    saved = [blk._modules.get("fuser") for blk in blocks]
    try:
        unet.position_net = model.position_net
        for blk, fuser in zip(blocks, model.fusers):
            blk.fuser = fuser
        yield {"gligen": inputs}
    finally:
        _restore(unet, "position_net", saved_net)
        for blk, fuser in zip(blocks, saved):
            _restore(blk, "fuser", fuser)


def _restore(owner: nn.Module, name: str, value: Optional[nn.Module]) -> None:
    if value is None:
        owner._modules.pop(name, None)
    else:
        setattr(owner, name, value)


# ----------------------------------------------------------------------------- loading


def _fuser_order(key: str) -> tuple:
    m = re.match(r"(?:.*\.)?(input_blocks|middle_block|output_blocks)\.(\d+)\.(.*?)\.fuser\.", key)
    if m is None:
        raise ValueError(f"unrecognised GLIGEN fuser key {key}")
    blocks = [int(n) for n in re.findall(r"transformer_blocks\.(\d+)", m.group(3))]
    return (_SECTIONS[m.group(1)], int(m.group(2)), *blocks)


def gligen_from_state_dict(sd: StateDict) -> Gligen:
    """Build a Gligen from a file's weights (sizes from its shapes)."""
    from diffusers.models.attention import GatedSelfAttentionDense
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    if "position_net.null_positive_feature" not in sd:
        raise ValueError(f"not a GLIGEN model: no position_net (found {describe_keys(sd)})")
    grouped: dict[tuple, dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if ".fuser." in key:
            grouped.setdefault(_fuser_order(key), {})[key.split(".fuser.", 1)[1]] = value.float()
    fusers = []
    key_dim = SD1_CONTEXT
    for order in sorted(grouped):
        weights = grouped[order]
        query_dim, key_dim = (int(n) for n in weights["linear.weight"].shape)
        heads = SD1_HEADS if key_dim == SD1_CONTEXT else max(1, query_dim // HEAD_CHANNELS)
        fuser = GatedSelfAttentionDense(query_dim, key_dim, heads, query_dim // heads)
        fuser.load_state_dict(weights, strict=True)
        fusers.append(fuser)
    in_dim = int(sd["position_net.null_positive_feature"].shape[0])
    out_dim = int(sd["position_net.linears.4.weight"].shape[0])
    net = GLIGENTextBoundingboxProjection(in_dim, out_dim, feature_type="text-only")
    net.load_state_dict({k[len("position_net."):]: v.float() for k, v in sd.items()
                         if k.startswith("position_net.")}, strict=True)
    return Gligen(net, fusers, in_dim).eval().requires_grad_(False)


def load_gligen(path: Union[str, os.PathLike]) -> Gligen:
    try:
        return gligen_from_state_dict(read_state_dict(path))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{os.path.basename(path)}: {exc}") from exc


def pooled_phrase(clip: Any, text: str) -> torch.Tensor:
    """The phrase's pooled text embedding [1, D] before any projection (its first
    77-token chunk), from the CLIP-L encoder where there is one."""
    tokens = clip.tokenize(text)
    spec = next((s for s in clip.encoders if s.name == "l"), clip.encoders[0])
    row = tokens[spec.name][0]
    text_model = getattr(spec.model, "text_model", spec.model)
    eos = int(getattr(text_model.config, "eos_token_id", 2))
    ids = torch.tensor([[t if isinstance(t, int) else eos for t, *_ in row]], dtype=torch.long, device=clip.device)
    with torch.inference_mode(), clip.running(spec):
        pooled = text_model(input_ids=ids).pooler_output
    return pooled.float().cpu().clone()
