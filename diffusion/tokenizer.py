"""CLIP's BPE tokenizer, loaded from the vocabulary that ships with the app.

The files under ``diffusion/data/clip_tokenizer/`` were derived from OpenAI CLIP's
``bpe_simple_vocab_16e6.txt.gz`` (MIT) by ``scripts/derive_clip_vocab.py``. Loading never
touches a model hub: the tokenizer is built directly from those two files.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from transformers import CLIPTokenizer

CLIP_TOKENIZER_DIR = Path(__file__).resolve().parent / "data" / "clip_tokenizer"
BOS_TOKEN_ID = 49406  # <|startoftext|>
EOS_TOKEN_ID = 49407  # <|endoftext|>
VOCAB_SIZE = 49408
MAX_LENGTH = 77  # CLIP's context: BOS + 75 tokens + EOS


@functools.lru_cache(maxsize=1)
def load_clip_tokenizer() -> CLIPTokenizer:
    """The CLIP tokenizer (fast, tokenizers-backed) built from the shipped files; cached.

    Treat the returned object as read-only: it is shared by every caller.
    """
    vocab_path = CLIP_TOKENIZER_DIR / "vocab.json"
    merges_path = CLIP_TOKENIZER_DIR / "merges.txt"
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    lines = merges_path.read_text(encoding="utf-8").strip().split("\n")
    merges = [tuple(line.split()) for line in lines[1:] if line and not line.startswith("#version")]
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
    if (tok.bos_token_id, tok.eos_token_id, len(tok)) != (BOS_TOKEN_ID, EOS_TOKEN_ID, VOCAB_SIZE):
        raise RuntimeError(
            f"CLIP tokenizer files in {CLIP_TOKENIZER_DIR} are damaged: bos={tok.bos_token_id} "
            f"eos={tok.eos_token_id} size={len(tok)}, expected {BOS_TOKEN_ID}/{EOS_TOKEN_ID}/{VOCAB_SIZE}"
        )
    return tok
