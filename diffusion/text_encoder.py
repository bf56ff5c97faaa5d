"""The CLIP socket value: one or two CLIP text encoders plus ComfyUI's prompt semantics.

``TextEncoder.encode_text(text)`` follows ComfyUI's CLIPTextEncode:

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

import contextlib
import copy
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence, Union

import torch

from diffusion.clip_api import ComfyClipAPI
from diffusion.embeddings import EmbeddingLookup, vectors_for
from diffusion import memory_manager
from diffusion.patching import WeightPatch, patched
from diffusion.prompt_weights import EMBEDDING_PREFIX, parse_prompt_weights
from diffusion.tokenizer import BOS_TOKEN_ID, EOS_TOKEN_ID, MAX_LENGTH, load_clip_tokenizer
from diffusion.types import ModelFamily

if TYPE_CHECKING:  # pragma: no cover
    import transformers

log = logging.getLogger(__name__)

CHUNK_TOKENS = MAX_LENGTH - 2  # 75 prompt tokens between BOS and EOS
MAX_WORD_LENGTH = 8  # a word this long may be split across chunks (ComfyUI's max_word_length)

# A chunk before padding: the prompt's (token, weight) pairs, at most CHUNK_TOKENS of them;
# a token is a vocabulary id or an EmbeddedToken (a textual-inversion vector).
Token = Union[int, "EmbeddedToken"]
Chunk = list[tuple[Token, float]]
EMBEDDING_PLACEHOLDER_ID = 0  # stands in an embedding's place; its row is then overwritten


@dataclass
class ClipEncoderSpec:
    name: str  # "l", "h" or "g"
    model: "transformers.CLIPTextModel | transformers.CLIPTextModelWithProjection"
    pad_with_end: bool  # True: pad with EOS token (CLIP-L); False: pad with token 0 (OpenCLIP H/G)
    default_layer: int  # -1 = last layer, -2 = penultimate
    layer_norm_hidden_state: bool  # apply final_layer_norm to the chosen hidden state
    return_pooled: bool  # SDXL's OpenCLIP-G: its projected pooled output feeds the UNet


class EmbeddedToken:
    """One learned token vector of a textual-inversion embedding, per encoder name."""

    __slots__ = ("vectors",)

    def __init__(self, vectors: dict[str, torch.Tensor]) -> None:
        self.vectors = vectors


# name -> the embedding's tokens (one EmbeddedToken per vector), or None if unusable
EmbeddingResolver = Callable[[str], Optional[list[EmbeddedToken]]]


def _embedding_word(word: str, resolve: EmbeddingResolver) -> tuple[Optional[list[EmbeddedToken]], str]:
    """`embedding:name,` -> (tokens, leftover text); trailing characters that are not part of
    a known name (a comma, a full stop) are given back as ordinary text, as ComfyUI does."""
    name = word[len(EMBEDDING_PREFIX):]
    leftover = ""
    while name:
        tokens = resolve(name)
        if tokens is not None:
            return tokens, leftover
        leftover = name[-1] + leftover
        name = name[:-1]
    return None, word


def tokenize_weighted(text: str, resolve: Optional[EmbeddingResolver] = None) -> list[list[tuple[Token, float]]]:
    """The prompt as words, each a list of (token id or EmbeddedToken, weight); no BOS/EOS."""
    tokenizer = load_clip_tokenizer()
    words: list[object] = []  # a str to tokenize, or a list of EmbeddedToken
    weights: list[float] = []
    for segment, weight in parse_prompt_weights(text):
        for word in segment.split():
            if resolve is not None and word.startswith(EMBEDDING_PREFIX):
                tokens, leftover = _embedding_word(word, resolve)
                if tokens is None:
                    log.warning("embedding %r not found or not usable with this model; kept as text", word)
                else:
                    words.append(tokens)
                    weights.append(weight)
                word = leftover
            if word:
                words.append(word)
                weights.append(weight)
    texts = [w for w in words if isinstance(w, str)]
    if not words:
        return []
    ids = iter(tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else [])
    out = []
    for word, w in zip(words, weights):
        word_ids = next(ids) if isinstance(word, str) else word
        if word_ids:
            out.append([(t, w) for t in word_ids])
    return out


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
    ids = [BOS_TOKEN_ID] + [t if isinstance(t, int) else EMBEDDING_PLACEHOLDER_ID for t, _ in chunk]
    ids.append(EOS_TOKEN_ID)
    weights = [1.0] + [w for _, w in chunk] + [1.0]
    n_pad = MAX_LENGTH - len(ids)
    return ids + [pad] * n_pad, weights + [1.0] * n_pad


def chunk_row(chunk: Chunk, pad_with_end: bool) -> list[tuple[Token, float]]:
    """The chunk as its full 77-token row of (token, weight), embeddings in place."""
    ids, weights = chunk_ids(chunk, pad_with_end)
    tokens: list[Token] = list(ids)
    for i, (token, _) in enumerate(chunk):
        if isinstance(token, EmbeddedToken):
            tokens[1 + i] = token
    return list(zip(tokens, weights))


def _final_layer_norm(model: torch.nn.Module) -> torch.nn.Module:
    norm = getattr(model, "final_layer_norm", None)
    if norm is None:  # CLIPTextModelWithProjection keeps the transformer in .text_model
        norm = model.text_model.final_layer_norm
    return norm


def _num_layers(model: torch.nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def _run_encoder(
    spec: ClipEncoderSpec,
    ids: list[list[int]],
    layer: int,
    want_pooled: bool,
    inject: Sequence[tuple[int, int, torch.Tensor]] = (),
    device: Optional[torch.device] = None,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One forward over a batch of 77-token rows: (hidden [n,77,D], pooled [n,P] or None), float32.

    `inject` (row, position, vector) replaces token embeddings (textual inversion) before
    the position embeddings are added."""
    model = spec.model
    input_ids = torch.tensor(ids, dtype=torch.long, device=device)  # the encoder's device, not a
    # first weight's: that one may be resting on the CPU while its layer streams
    handle = None
    if inject:

        def replace_rows(_module, _args, output):
            output = output.clone()
            for row, pos, vector in inject:
                output[row, pos] = vector.to(output.device, output.dtype)
            return output

        handle = model.get_input_embeddings().register_forward_hook(replace_rows)
    try:
        out = model(input_ids=input_ids, output_hidden_states=True)
    finally:
        if handle is not None:
            handle.remove()
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


class TextEncoder(ComfyClipAPI):
    """The CLIP socket value: encoders plus the clip-skip setting; immutable in use
    (ComfyClipAPI adds the calls ComfyUI nodes make on it).

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
        self.patches: tuple[WeightPatch, ...] = ()  # LoRA deltas, by encoder name

    def __repr__(self) -> str:
        names = "+".join(e.name for e in self.encoders)
        return f"TextEncoder({self.family.value}, clip_{names}, layer_idx={self.layer_idx})"

    def with_last_layer(self, layer_idx: int) -> "TextEncoder":
        """A copy that shares the modules and takes hidden states from ``layer_idx``."""
        clone = copy.copy(self)
        clone.encoders = list(self.encoders)
        clone.layer_idx = int(layer_idx)
        return clone

    def with_patches(self, patches: Sequence[WeightPatch]) -> "TextEncoder":
        """A copy sharing the modules, with `patches` added after the existing ones."""
        clone = copy.copy(self)
        clone.encoders = list(self.encoders)
        clone.patches = self.patches + tuple(patches)
        return clone

    def patches_of(self, spec: ClipEncoderSpec) -> list[WeightPatch]:
        """This value's weight patches (LoRAs, merges) of one of its encoders."""
        return [p for p in self.patches if p.component == spec.name]

    @contextlib.contextmanager
    def running(self, spec: ClipEncoderSpec) -> Iterator[None]:
        """One encoder on the compute device (diffusion/memory_manager.py), carrying this
        value's patches, for one encoding."""
        with memory_manager.using([spec.model], "text_encoder"), patched(spec.model, self.patches_of(spec)):
            yield

    def layer_for(self, spec: ClipEncoderSpec) -> int:
        return spec.default_layer if self.layer_idx is None else self.layer_idx

    def tokenize_chunks(self, text: str, embeddings: Optional[EmbeddingLookup] = None) -> list[Chunk]:
        """The prompt's chunks (before BOS/EOS/padding) as (token, weight) pairs; with a
        lookup, `embedding:name` words become the embedding's vectors."""
        resolve = self._resolver(embeddings) if embeddings is not None else None
        return chunk_words(tokenize_weighted(text, resolve))

    def _resolver(self, lookup: EmbeddingLookup) -> EmbeddingResolver:
        """An embedding is used only if it has vectors of the right width for every encoder."""

        def resolve(name: str) -> Optional[list[EmbeddedToken]]:
            embedding = lookup(name)
            if embedding is None:
                return None
            per_encoder = {}
            for spec in self.encoders:
                width = int(spec.model.get_input_embeddings().embedding_dim)
                vectors = vectors_for(embedding, spec.name, width)
                if vectors is None:
                    log.warning("embedding %r has no %d-wide vectors for clip_%s", name, width, spec.name)
                    return None
                per_encoder[spec.name] = vectors
            count = min(v.shape[0] for v in per_encoder.values())
            return [EmbeddedToken({k: v[i] for k, v in per_encoder.items()}) for i in range(count)]

        return resolve

    def encode_text(
        self, text: str, embeddings: Optional[EmbeddingLookup] = None
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """cond [1, 77*k, D_total] float32 CPU and pooled [1, P] float32 CPU (or None)."""
        chunks = self.tokenize_chunks(text, embeddings)
        return self.encode_rows({spec.name: [chunk_row(c, spec.pad_with_end) for c in chunks]
                                 for spec in self.encoders})

    def encode_rows(self, rows_by_encoder: dict[str, list[list[tuple]]]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Encode 77-token rows of (token, weight) per encoder name (ComfyUI's token form)."""
        with torch.inference_mode():
            conds, pooled = [], None
            for spec in self.encoders:
                with self.running(spec):
                    z, p = self._encode_rows(spec, rows_by_encoder[spec.name])
                conds.append(z)
                if spec.return_pooled:
                    pooled = p
            tokens = min(z.shape[1] for z in conds)
            cond = torch.cat([z[:, :tokens] for z in conds], dim=-1)
        # Clone outside inference mode so callers may modify the results in place.
        return cond.clone(), (pooled.clone() if pooled is not None else None)

    def _encode_rows(
        self, spec: ClipEncoderSpec, token_rows: list[list[tuple]]
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        layer = self.layer_for(spec)
        rows = [([t if isinstance(t, int) else EMBEDDING_PLACEHOLDER_ID for t, *_ in row],
                 [float(w) for _, w, *_ in row]) for row in token_rows]
        inject = [(r, pos, item[0].vectors[spec.name]) for r, row in enumerate(token_rows)
                  for pos, item in enumerate(row) if isinstance(item[0], EmbeddedToken)]
        z, pooled = _run_encoder(spec, [ids for ids, _ in rows], layer, spec.return_pooled, inject, self.device)
        z = z.cpu()
        weights = torch.tensor([w for _, w in rows], dtype=torch.float32)  # [k, 77]
        if bool((weights != 1.0).any()):
            empty_ids, _ = chunk_ids([], spec.pad_with_end)
            z_empty, _ = _run_encoder(spec, [empty_ids], layer, False, device=self.device)
            z_empty = z_empty.cpu()  # [1, 77, D]
            w = weights.unsqueeze(-1)
            weighted = (z - z_empty) * w + z_empty
            z = torch.where(w != 1.0, weighted, z)
        cond = z.reshape(1, -1, z.shape[-1])  # chunks one after another along the tokens
        first_pooled = pooled[0:1].cpu() if pooled is not None else None
        return cond, first_pooled
