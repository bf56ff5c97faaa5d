"""The CLIP socket value: one or two CLIP text encoders plus ComfyUI's prompt semantics.

``TextEncoder.encode(text)`` follows ComfyUI's CLIPTextEncode:

* the prompt is parsed for emphasis (``diffusion.prompt_weights``), each segment is split
  into words at whitespace and each word tokenized alone (no BOS/EOS), every token
  carrying its segment's weight;
* the token stream is cut into chunks of at most 75 tokens; a word that does not fit in
  the rest of a chunk moves whole to the next one, unless it is 8 tokens or longer (then it
  fills the chunk and continues in the next). Each chunk becomes BOS + tokens + EOS,
  padded to 77 with EOS (``pad_with_end``, CLIP-L) or with token 0 (OpenCLIP H/G). An
  empty prompt is one chunk;
* every chunk goes through every encoder; the hidden state of the chosen layer is taken
  (``layer_idx`` if set by CLIPSetLastLayer, else the encoder's ``default_layer``), with the
  final layer norm applied if the encoder asks for it;
* if any weight differs from 1, the empty prompt is encoded too and each weighted token
  position becomes ``(z - z_empty) * w + z_empty``;
* chunks are concatenated along the tokens, encoders along the features (SDXL: L then G),
  and the pooled output is the ``return_pooled`` encoder's projected pooled output
  (``text_embeds``) of the first chunk.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch

from diffusion.prompt_weights import parse_prompt_weights
from diffusion.tokenizer import BOS_TOKEN_ID, EOS_TOKEN_ID, MAX_LENGTH, load_clip_tokenizer
from diffusion.types import ModelFamily

if TYPE_CHECKING:  # pragma: no cover
    import transformers

CHUNK_TOKENS = MAX_LENGTH - 2  # 75 prompt tokens between BOS and EOS
MAX_WORD_LENGTH = 8  # a word this long may be split across chunks (ComfyUI's max_word_length)

# A chunk before padding: the prompt's (token id, weight) pairs, at most CHUNK_TOKENS of them.
Chunk = list[tuple[int, float]]


@dataclass
class ClipEncoderSpec:
    name: str  # "l", "h" or "g"
    model: "transformers.CLIPTextModel | transformers.CLIPTextModelWithProjection"
    pad_with_end: bool  # True: pad with EOS token (CLIP-L); False: pad with token 0 (OpenCLIP H/G)
    default_layer: int  # -1 = last layer, -2 = penultimate
    layer_norm_hidden_state: bool  # apply final_layer_norm to the chosen hidden state
    return_pooled: bool  # SDXL's OpenCLIP-G: its projected pooled output feeds the UNet


def tokenize_weighted(text: str) -> list[list[tuple[int, float]]]:
    """The prompt as words, each a list of (token id, weight); no BOS/EOS."""
    tokenizer = load_clip_tokenizer()
    words: list[str] = []
    weights: list[float] = []
    for segment, weight in parse_prompt_weights(text):
        for word in segment.split():
            words.append(word)
            weights.append(weight)
    if not words:
        return []
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    return [[(t, w) for t in word_ids] for word_ids, w in zip(ids, weights) if word_ids]


def chunk_words(words: list[list[tuple[int, float]]]) -> list[Chunk]:
    """Cut the word stream into chunks of at most 75 tokens (ComfyUI's rule); never empty."""
    chunks: list[Chunk] = [[]]
    for word in words:
        is_large = len(word) >= MAX_WORD_LENGTH
        while word:
            room = CHUNK_TOKENS - len(chunks[-1])
            if len(word) <= room:
                chunks[-1].extend(word)
                word = []
            else:
                if is_large:
                    chunks[-1].extend(word[:room])
                    word = word[room:]
                chunks.append([])
    return chunks


def chunk_ids(chunk: Chunk, pad_with_end: bool) -> tuple[list[int], list[float]]:
    """BOS + tokens + EOS, padded to 77; the weights of those 77 positions (1.0 off-prompt)."""
    pad = EOS_TOKEN_ID if pad_with_end else 0
    ids = [BOS_TOKEN_ID] + [t for t, _ in chunk] + [EOS_TOKEN_ID]
    weights = [1.0] + [w for _, w in chunk] + [1.0]
    n_pad = MAX_LENGTH - len(ids)
    return ids + [pad] * n_pad, weights + [1.0] * n_pad


def _final_layer_norm(model: torch.nn.Module) -> torch.nn.Module:
    norm = getattr(model, "final_layer_norm", None)
    if norm is None:  # CLIPTextModelWithProjection keeps the transformer in .text_model
        norm = model.text_model.final_layer_norm
    return norm


def _num_layers(model: torch.nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def _run_encoder(
    spec: ClipEncoderSpec, ids: list[list[int]], layer: int, want_pooled: bool
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One forward over a batch of 77-token rows: (hidden [n,77,D], pooled [n,P] or None), float32."""
    model = spec.model
    param = next(model.parameters())
    input_ids = torch.tensor(ids, dtype=torch.long, device=param.device)
    out = model(input_ids=input_ids, output_hidden_states=True)
    n_layers = _num_layers(model)
    if abs(layer) > n_layers or layer == n_layers:
        # Out of range (e.g. CLIPSetLastLayer -24 on a 12-layer model): the final output,
        # normalised, as ComfyUI falls back to its "last" layer.
        z = out.last_hidden_state
    else:
        z = out.hidden_states[layer] if layer < 0 else out.hidden_states[layer + 1]
        if spec.layer_norm_hidden_state:
            z = _final_layer_norm(model)(z)
    pooled = None
    if want_pooled:
        pooled = getattr(out, "text_embeds", None)
        if pooled is None:
            pooled = out.pooler_output
        pooled = pooled.float()
    return z.float(), pooled


class TextEncoder:
    """The CLIP socket value: encoders plus the clip-skip setting; immutable in use.

    ``device``/``dtype`` record where the loader put the modules; ``encode`` runs each module
    wherever its parameters are now (it never moves them) and returns float32 on the CPU.
    """

    def __init__(
        self,
        family: ModelFamily,
        encoders: list[ClipEncoderSpec],
        device: torch.device,
        dtype: torch.dtype,
    ):
        if not encoders:
            raise ValueError("TextEncoder needs at least one encoder")
        if sum(1 for e in encoders if e.return_pooled) > 1:
            raise ValueError("TextEncoder: at most one encoder may have return_pooled=True")
        for e in encoders:
            eos = getattr(e.model.config, "eos_token_id", None)
            if eos not in (EOS_TOKEN_ID, 2):  # 2: the legacy value; transformers then uses argmax(ids)
                raise ValueError(
                    f"TextEncoder: clip_{e.name} config.eos_token_id is {eos!r}; set it to {EOS_TOKEN_ID} "
                    "so the pooled output is read at the first EOS token"
                )
        self.family = family
        self.encoders = list(encoders)
        self.device = torch.device(device)
        self.dtype = dtype
        self.layer_idx: int | None = None

    def __repr__(self) -> str:
        names = "+".join(e.name for e in self.encoders)
        return f"TextEncoder({self.family.value}, clip_{names}, layer_idx={self.layer_idx})"

    def with_last_layer(self, layer_idx: int) -> "TextEncoder":
        """A copy that shares the modules and takes hidden states from ``layer_idx``."""
        clone = copy.copy(self)
        clone.encoders = list(self.encoders)
        clone.layer_idx = int(layer_idx)
        return clone

    def layer_for(self, spec: ClipEncoderSpec) -> int:
        return spec.default_layer if self.layer_idx is None else self.layer_idx

    def tokenize(self, text: str) -> list[Chunk]:
        """The prompt's chunks (before BOS/EOS/padding) as (token id, weight) pairs."""
        return chunk_words(tokenize_weighted(text))

    def encode(self, text: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """cond [1, 77*k, D_total] float32 CPU and pooled [1, P] float32 CPU (or None)."""
        chunks = self.tokenize(text)
        with torch.inference_mode():
            conds, pooled = [], None
            for spec in self.encoders:
                z, p = self._encode_chunks(spec, chunks)
                conds.append(z)
                if spec.return_pooled:
                    pooled = p
            tokens = min(z.shape[1] for z in conds)
            cond = torch.cat([z[:, :tokens] for z in conds], dim=-1)
        # Clone outside inference mode so callers may modify the results in place.
        return cond.clone(), (pooled.clone() if pooled is not None else None)

    def _encode_chunks(
        self, spec: ClipEncoderSpec, chunks: list[Chunk]
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        layer = self.layer_for(spec)
        rows = [chunk_ids(c, spec.pad_with_end) for c in chunks]
        z, pooled = _run_encoder(spec, [ids for ids, _ in rows], layer, spec.return_pooled)
        z = z.cpu()
        weights = torch.tensor([w for _, w in rows], dtype=torch.float32)  # [k, 77]
        if bool((weights != 1.0).any()):
            empty_ids, _ = chunk_ids([], spec.pad_with_end)
            z_empty, _ = _run_encoder(spec, [empty_ids], layer, False)
            z_empty = z_empty.cpu()  # [1, 77, D]
            w = weights.unsqueeze(-1)
            weighted = (z - z_empty) * w + z_empty
            z = torch.where(w != 1.0, weighted, z)
        cond = z.reshape(1, -1, z.shape[-1])  # chunks one after another along the tokens
        first_pooled = pooled[0:1].cpu() if pooled is not None else None
        return cond, first_pooled
