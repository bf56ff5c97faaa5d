"""Reading checkpoint files into a flat state dict, safely.

Only safetensors and `weights_only` torch pickles are accepted: a checkpoint from the
internet must never be able to run code on load.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Union

import torch

SAFETENSORS_EXTENSIONS = (".safetensors", ".sft")
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin")


def read_state_dict(path: Union[str, os.PathLike]) -> dict[str, torch.Tensor]:
    """Load every tensor of a checkpoint file to the CPU.

    `.safetensors` goes through safetensors; `.ckpt/.pt/.pth/.bin` through
    `torch.load(weights_only=True)`, unwrapping a top-level "state_dict" entry (Lightning
    checkpoints). Raises ValueError naming the file for unknown extensions, unreadable
    files, refused pickles and files that hold no tensors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist or is not a file")
    if suffix in SAFETENSORS_EXTENSIONS:
        return _read_safetensors(path)
    if suffix in PICKLE_EXTENSIONS:
        return _read_pickle(path)
    known = ", ".join(SAFETENSORS_EXTENSIONS + PICKLE_EXTENSIONS)
    raise ValueError(f"cannot read checkpoint {path.name}: unknown extension {suffix!r} (known: {known})")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"cannot read safetensors file {path.name}: {exc}") from exc


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"refused to load {path.name}: it holds objects other than tensors "
            f"(weights_only load failed; convert it to .safetensors): {exc}"
        ) from exc
    except Exception as exc:
        raise ValueError(f"cannot read checkpoint {path.name}: {exc}") from exc
    for wrapper in ("state_dict", "adapter"):  # Lightning checkpoints; T2I-Adapter files
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict):
        raise ValueError(f"checkpoint {path.name} holds a {type(data).__name__}, not a state dict")
    tensors = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"checkpoint {path.name} holds no tensors")
    return tensors
