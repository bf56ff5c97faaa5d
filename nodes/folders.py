"""Where models, inputs and outputs live, and safe lookups inside those folders.

Every file name that comes from a workflow or a request is resolved here, and a name
that would leave its folder (`..`, an absolute path, a symlink pointing out) is refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

MODEL_KINDS = ("checkpoints", "vae", "loras", "embeddings", "controlnet", "upscale_models", "clip", "vae_approx")
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


class UnsafePathError(ValueError):
    """A requested name that would leave its folder."""


@dataclass
class Folders:
    """The app's folders: models/<kind>/, input/, output/, temp/ (plus extra model paths)."""

    models: Path
    input: Path
    output: Path
    temp: Path
    extra_model_dirs: dict[str, list[Path]] = field(default_factory=dict)

    @classmethod
    def under(cls, base: Path, models: Optional[Path] = None) -> "Folders":
        base = Path(base)
        return cls(
            models=Path(models) if models else base / "models",
            input=base / "input",
            output=base / "output",
            temp=base / "temp",
        )

    def model_dirs(self, kind: str) -> list[Path]:
        return [self.models / kind, *self.extra_model_dirs.get(kind, [])]

    def list_models(self, kind: str, extensions: Iterable[str] = MODEL_EXTENSIONS) -> list[str]:
        """Model names (relative paths with '/') in every folder of this kind, sorted.

        For checkpoints, diffusers-format folders (holding model_index.json) are listed too.
        """
        names: set[str] = set()
        exts = tuple(extensions)
        for root in self.model_dirs(kind):
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                here = Path(dirpath)
                if kind == "checkpoints" and "model_index.json" in filenames and here != root:
                    names.add(here.relative_to(root).as_posix())
                    dirnames[:] = []
                    continue
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for name in filenames:
                    if name.lower().endswith(exts):
                        names.add((here / name).relative_to(root).as_posix())
        return sorted(names, key=str.lower)

    def model_path(self, kind: str, name: str) -> Path:
        """The file (or diffusers folder) for a model name; FileNotFoundError if absent."""
        for root in self.model_dirs(kind):
            try:
                candidate = safe_join(root, name)
            except UnsafePathError:
                raise
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"model '{name}' not found in {', '.join(str(d) for d in self.model_dirs(kind))}")

    def annotated_path(self, name: str, default: str = "input") -> Path:
        """ComfyUI's `name [output]` notation picks the input, output or temp folder."""
        folder = default
        for kind in ("input", "output", "temp"):
            suffix = f" [{kind}]"
            if name.endswith(suffix):
                name, folder = name[: -len(suffix)], kind
        return safe_join(self.by_type(folder), name)

    def by_type(self, kind: str) -> Path:
        if kind not in ("input", "output", "temp"):
            raise UnsafePathError(f"unknown folder type '{kind}'")
        return getattr(self, kind)

    def list_input_images(self) -> list[str]:
        if not self.input.is_dir():
            return []
        found = []
        for path in self.input.rglob("*"):
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path.relative_to(self.input).as_posix())
        return sorted(found, key=str.lower)


def safe_join(root: Path, name: str) -> Path:
    """root/name, refusing names that escape root (also through symlinks)."""
    if not name or "\x00" in name:
        raise UnsafePathError("empty or invalid file name")
    relative = Path(name.replace("\\", "/"))
    if relative.is_absolute() or any(part == ".." for part in relative.parts):
        raise UnsafePathError(f"'{name}' leaves its folder")
    root_resolved = Path(root).resolve()
    target = (root_resolved / relative).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise UnsafePathError(f"'{name}' leaves its folder")
    return target
