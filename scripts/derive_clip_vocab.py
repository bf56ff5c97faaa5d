#!/usr/bin/env python
"""Derive CLIP's BPE tokenizer files (vocab.json + merges.txt) from OpenAI's merge list.

Usage: python scripts/derive_clip_vocab.py GZ_PATH OUT_DIR

GZ_PATH is ``bpe_simple_vocab_16e6.txt.gz`` as shipped (MIT licence, OpenAI CLIP) inside
PyPI's ``clip-anytorch`` wheel::

    pip download --no-deps -d /tmp/clipwheel clip-anytorch
    cd /tmp/clipwheel && unzip -o *.whl clip/bpe_simple_vocab_16e6.txt.gz

The output is what ``transformers.CLIPTokenizer`` reads, built exactly as CLIP's own
``SimpleTokenizer`` builds its tables: merges are lines[1 : 49152-256-2+1] of the file;
the vocabulary is the 256 byte-level characters, the same with ``</w>``, every merge
joined, then ``<|startoftext|>`` and ``<|endoftext|>`` (49408 entries).
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

N_MERGES = 49152 - 256 - 2  # 48894
VOCAB_SIZE = 49408


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def derive(gz_path: Path) -> tuple[dict[str, int], list[str]]:
    lines = gzip.open(gz_path).read().decode("utf-8").split("\n")
    merges = lines[1 : N_MERGES + 1]
    if len(merges) != N_MERGES:
        raise ValueError(f"{gz_path}: expected {N_MERGES} merges, found {len(merges)}")
    pairs = [tuple(m.split()) for m in merges]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"{gz_path}: a merge line is not two symbols")
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(p) for p in pairs]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"vocabulary has {len(vocab)} distinct entries, expected {VOCAB_SIZE}")
    return vocab, [" ".join(p) for p in pairs]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    gz_path, out_dir = Path(argv[1]), Path(argv[2])
    vocab, merges = derive(gz_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
