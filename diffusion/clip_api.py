"""The CLIP value's interface in the form ComfyUI nodes call it.

Tokens are ComfyUI's: `{encoder name: [row, ...]}`, each row 77 `(token, weight)` pairs
with BOS/EOS/padding in place (an embedding's vector stands where its token would be).
`tokenize` + `encode_from_tokens` give exactly what CLIPTextEncode gives for the text.
"""
from __future__ import annotations

import copy
from typing import Any, Optional

import torch

from .key_patches import KeyPatchable, clip_key_names


class _Tokenizer:
    """`clip.tokenizer`: the same tokenisation, as ComfyUI's tokenizer object offers it."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **_: Any) -> dict:
        return self._owner.tokenize(text, return_word_ids)

    def untokenize(self, token_weight_pair: list) -> list:
        from .tokenizer import load_clip_tokenizer

        tokenizer = load_clip_tokenizer()
        return [(pair, tokenizer.decode([pair[0]]) if isinstance(pair[0], int) else "<embedding>")
                for pair in token_weight_pair]


class _CondStageModel:
    """`clip.cond_stage_model`: the encoders by ComfyUI's names, and a direct encode."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        for spec in owner.encoders:
            setattr(self, f"clip_{spec.name}", spec.model)

    def encode_token_weights(self, tokens: dict) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self._owner.encode_rows(tokens)

    def set_clip_options(self, options: dict) -> None:
        if "layer" in options:
            self._owner.layer_idx = options["layer"]

    def reset_clip_options(self) -> None:
        self._owner.layer_idx = None

    def state_dict(self) -> dict:
        return self._owner.model_state_dict()


class ComfyClipAPI(KeyPatchable):
    """tokenize / encode_from_tokens / clone / clip_layer / add_patches on the CLIP value."""

    default_embeddings: Any = None  # an embedding lookup used when tokenize is given none

    def tokenize(self, text: str, return_word_ids: bool = False, embeddings: Any = None, **_: Any) -> dict:
        chunks = self.tokenize_chunks(text, embeddings if embeddings is not None else self.default_embeddings)
        from .text_encoder import chunk_row

        out = {}
        for spec in self.encoders:
            rows = [chunk_row(chunk, spec.pad_with_end) for chunk in chunks]
            if return_word_ids:
                rows = [[(token, weight, 0) for token, weight in row] for row in rows]
            out[spec.name] = rows
        return out

    def encode_from_tokens(self, tokens: dict, return_pooled: Any = False, return_dict: bool = False) -> Any:
        cond, pooled = self.encode_rows(tokens)
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: dict, unprojected: bool = False, add_dict: Optional[dict] = None,
                                     show_pbar: bool = True) -> list:
        cond, pooled = self.encode_rows(tokens)
        return [[cond, {"pooled_output": pooled, **(add_dict or {})}]]

    def encode(self, text: str) -> torch.Tensor:
        return self.encode_from_tokens(self.tokenize(text))

    def clone(self) -> Any:
        twin = copy.copy(self)
        twin.encoders = list(self.encoders)
        twin.patches = tuple(self.patches)
        return twin

    def clip_layer(self, layer_idx: int) -> None:
        self.layer_idx = int(layer_idx)

    def load_model(self, *_: Any) -> Any:
        return self

    @property
    def patcher(self) -> Any:
        return self

    @property
    def tokenizer(self) -> _Tokenizer:
        return _Tokenizer(self)

    @property
    def cond_stage_model(self) -> _CondStageModel:
        return _CondStageModel(self)

    @property
    def load_device(self) -> torch.device:
        return self.device

    def get_sd(self) -> dict:
        return self.model_state_dict()

    def _key_names(self) -> dict[str, tuple[str, str]]:
        return clip_key_names(self.encoders)

    def _component_of(self, target: tuple[str, str]) -> tuple[str, str]:
        return target

    def _own_state(self) -> dict[tuple[str, str], torch.Tensor]:
        return {(spec.name, name): value for spec in self.encoders for name, value in spec.model.state_dict().items()}
