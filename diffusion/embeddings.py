"""Textual-inversion embeddings: `embedding:NAME` in a prompt becomes learned token vectors.

Files live in models/embeddings as .safetensors, .pt or .bin; pickles are read with
`weights_only=True`, so an embedding file can never run code. Layouts understood:
A1111's `{"string_to_param": {"*": [n, D]}}`, `{"emb_params": [n, D]}`, SDXL's
`{"clip_l": [n, 768], "clip_g": [n, 1280]}`, and a file holding one tensor.
"""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

log = logging.getLogger(__name__)

EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin", ".pth")
ANY_ENCODER = "*"

# name -> {encoder name ("l"/"h"/"g") or "*": [n, D]}, or None when there is no such file
EmbeddingLookup = Callable[[str], Optional[dict[str, torch.Tensor]]]


def _tensors(data: object, into: dict[str, torch.Tensor], key: str = "") -> None:
    """Collect the tensors of a nested dict (A1111 nests them under string_to_param)."""
    if isinstance(data, torch.Tensor):
        into[key] = data
    elif isinstance(data, dict):
        for k, v in data.items():
            _tensors(v, into, str(k))


def load_embedding_file(path: os.PathLike | str) -> dict[str, torch.Tensor]:
    """The vectors of one embedding file, keyed by encoder ("l", "g") or "*" (any width)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        raw: dict[str, torch.Tensor] = dict(load_file(str(path), device="cpu"))
    else:
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(f"refused to load embedding {path.name}: not plain tensors ({exc})") from exc
        raw = {}
        _tensors(data, raw)
    found: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not value.is_floating_point() or value.ndim not in (1, 2):
            continue
        vectors = value.float().reshape(-1, value.shape[-1])
        if key == "clip_l":
            found["l"] = vectors
        elif key == "clip_g":
            found["g"] = vectors
        elif ANY_ENCODER not in found:
            found[ANY_ENCODER] = vectors
    if not found:
        raise ValueError(f"embedding {path.name} holds no vectors")
    return found


def vectors_for(embedding: dict[str, torch.Tensor], encoder: str, width: int) -> Optional[torch.Tensor]:
    """The [n, width] vectors of an embedding for one encoder, or None if it has none."""
    for key in (encoder, ANY_ENCODER):
        vectors = embedding.get(key)
        if vectors is not None and vectors.shape[-1] == width:
            return vectors
    return None


class EmbeddingFolder:
    """Looks names up in a list of folders (`name`, or `name` plus a known extension)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._cache: dict[tuple[str, int], dict[str, torch.Tensor]] = {}

    def __call__(self, name: str) -> Optional[dict[str, torch.Tensor]]:
        path = find_embedding(self.folders, name)
        if path is None:
            return None
        key = (str(path), path.stat().st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = load_embedding_file(path)
        return self._cache[key]


def find_embedding(folders: Iterable[Path], name: str) -> Optional[Path]:
    """The file for an embedding name; names that would leave their folder find nothing."""
    name = name.strip().replace("\\", "/")
    if not name or name.startswith("/") or ".." in Path(name).parts or "\x00" in name:
        return None
    for folder in folders:
        root = Path(folder).resolve()
        for candidate in [name] + [name + ext for ext in EMBEDDING_EXTENSIONS]:
            path = (root / candidate).resolve()
            if root in path.parents and path.is_file() and path.suffix.lower() in EMBEDDING_EXTENSIONS:
                return path
    return None
