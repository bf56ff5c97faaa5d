"""Style models (the STYLE_MODEL socket): image tokens from a CLIP vision output.

Two kinds are known by their keys: the T2I-Adapter style adapter (``style_embedding``,
a small transformer over the CLIP vision tokens plus learned style tokens, whose outputs
are projected to the text context width) and Flux Redux (``redux_up``/``redux_down``, an
MLP over every vision token). Either's tokens are appended to a conditioning's text.
"""
from __future__ import annotations

import os
import re
from typing import Union

import torch
from torch import nn

from .checkpoint_io import read_state_dict
from .device import default_device
from .families import StateDict, describe_keys

ADAPTER_HEADS = 8
ADAPTER_TOKENS = 8


class _ResidualBlock(nn.Module):
    """Pre-norm transformer block with a quick-GELU MLP (OpenAI CLIP's layout)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [L, N, D]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        h = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(h * torch.sigmoid(1.702 * h))


class StyleAdapter(nn.Module):
    """T2I-Adapter style model: vision tokens + `tokens` learned ones through `layers`
    blocks; the learned ones come out, projected to the context width."""

    def __init__(self, width: int = 1024, context_dim: int = 768, heads: int = ADAPTER_HEADS, layers: int = 3,
                 tokens: int = ADAPTER_TOKENS):
        super().__init__()
        self.transformer_layes = nn.Sequential(*[_ResidualBlock(width, heads) for _ in range(layers)])
        self.style_embedding = nn.Parameter(torch.zeros(1, tokens, width))
        self.ln_pre = nn.LayerNorm(width)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, context_dim))

    @property
    def tokens(self) -> int:
        return int(self.style_embedding.shape[1])

    def forward(self, vision_tokens: torch.Tensor) -> torch.Tensor:
        style = self.style_embedding.expand(vision_tokens.shape[0], -1, -1).to(vision_tokens)
        x = self.ln_pre(torch.cat([vision_tokens, style], dim=1))
        x = self.transformer_layes(x.transpose(0, 1)).transpose(0, 1)
        return self.ln_post(x[:, -self.tokens:]) @ self.proj


class ReduxEncoder(nn.Module):
    """Flux Redux: every vision token through an up/down MLP to the text width."""

    def __init__(self, vision_dim: int = 1152, text_dim: int = 4096):
        super().__init__()
        self.redux_up = nn.Linear(vision_dim, text_dim * 3)
        self.redux_down = nn.Linear(text_dim * 3, text_dim)

    def forward(self, vision_tokens: torch.Tensor) -> torch.Tensor:
        return self.redux_down(nn.functional.silu(self.redux_up(vision_tokens)))


class StyleModel:
    """A loaded style model; `get_cond` turns a CLIP vision output into tokens [B,N,D]."""

    def __init__(self, model: nn.Module):
        self.model = model.eval().requires_grad_(False)

    def get_cond(self, clip_vision_output) -> torch.Tensor:
        tokens = clip_vision_output.last_hidden_state
        param = next(self.model.parameters())
        with torch.inference_mode():
            out = self.model(tokens.to(param.device, param.dtype))
        return out.float().cpu()


def style_model_from_state_dict(sd: StateDict) -> StyleModel:
    """Build the style model a state dict holds (sizes from its shapes)."""
    if "style_embedding" in sd:
        width = int(sd["style_embedding"].shape[-1])
        layers = len({m.group(1) for k in sd for m in [re.match(r"transformer_layes\.(\d+)\.", k)] if m})
        model: nn.Module = StyleAdapter(width, int(sd["proj"].shape[1]), ADAPTER_HEADS, layers,
                                        int(sd["style_embedding"].shape[1]))
    elif "redux_down.weight" in sd:
        model = ReduxEncoder(int(sd["redux_up.weight"].shape[1]), int(sd["redux_down.weight"].shape[0]))
    else:
        raise ValueError(f"not a style model (no style_embedding or redux_down.weight; found {describe_keys(sd)})")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return StyleModel(model.to(default_device()))


def load_style_model(path: Union[str, os.PathLike]) -> StyleModel:
    try:
        return style_model_from_state_dict(read_state_dict(path))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{os.path.basename(path)}: {exc}") from exc


def append_style_tokens(conditioning: list, tokens: torch.Tensor, strength: float, strength_type: str) -> list:
    """Each conditioning entry with the style tokens (all images' tokens, as one row)
    appended to its text. "multiply" scales the tokens; "attn_bias" leaves them and adds
    log(strength) to the attention towards them as an `attention_mask` bias (also done,
    with bias 0, when the entry already has a mask, so the mask keeps fitting)."""
    row = tokens.flatten(0, 1).unsqueeze(0)
    if strength_type == "multiply":
        row = row * strength
    n = row.shape[1]
    out = []
    for text, extras in conditioning:
        extras = dict(extras or {})
        if "attention_mask" in extras or (strength_type == "attn_bias" and strength != 1.0):
            extras.update(_grown_attention_mask(extras, text, n, strength if strength_type == "attn_bias" else 1.0))
        out.append([torch.cat([text, row.to(text.dtype).expand(text.shape[0], -1, -1)], dim=1), extras])
    return out


def _grown_attention_mask(extras: dict, text: torch.Tensor, n: int, strength: float) -> dict:
    """The entry's attention bias [B, T+n+R, T+n+R] with room for `n` new tokens after the
    text T (R: reference-image tokens some models add), biased by log(strength)."""
    ref_h, ref_w = extras.get("attention_mask_img_shape", (1, 1))
    n_ref, n_txt = ref_h * ref_w, text.shape[1]
    bias = torch.log(torch.tensor(float(strength)))
    old = extras.get("attention_mask")
    if old is None:
        old = torch.zeros(text.shape[0], n_txt + n_ref, n_txt + n_ref, dtype=torch.float16)
    elif old.dtype == torch.bool:
        old = torch.log(old.to(torch.float16))
    size = n_txt + n + n_ref
    new = torch.zeros(text.shape[0], size, size, dtype=torch.float16)
    new[:, :n_txt, :n_txt] = old[:, :n_txt, :n_txt]
    new[:, :n_txt, n_txt + n:] = old[:, :n_txt, n_txt:]
    new[:, n_txt + n:, :n_txt] = old[:, n_txt:, :n_txt]
    new[:, n_txt + n:, n_txt + n:] = old[:, n_txt:, n_txt:]
    new[:, :n_txt, n_txt:n_txt + n] = bias
    new[:, n_txt + n:, n_txt:n_txt + n] = bias
    return {"attention_mask": new.to(text.device), "attention_mask_img_shape": (ref_h, ref_w)}
