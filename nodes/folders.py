"""Where models, inputs and outputs live, and safe lookups inside those folders.

Every file name that comes from a workflow or a request is resolved here, and a name
that would leave its folder (`..`, an absolute path) is refused. Input, output and temp
names may not reach outside through symlinks either; model folders may (users link their
models in from other installs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

MODEL_KINDS = ("checkpoints", "vae", "loras", "embeddings", "controlnet", "upscale_models", "clip", "vae_approx")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
# What ComfyUI lists as model files; loading still goes through the safe loaders.
MODEL_FILE_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})

# Model folder names as ComfyUI has them, with their subfolders of models/ (first = where new
# files go). Old names are aliases: "clip" is "text_encoders", "unet" is "diffusion_models".
STANDARD_MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "configs": ("configs",),
    "loras": ("loras",),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
    "clip_vision": ("clip_vision",),
    "style_models": ("style_models",),
    "embeddings": ("embeddings",),
    "diffusers": ("diffusers",),
    "vae_approx": ("vae_approx",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "gligen": ("gligen",),
    "upscale_models": ("upscale_models",),
    "latent_upscale_models": ("latent_upscale_models",),
    "hypernetworks": ("hypernetworks",),
    "photomaker": ("photomaker",),
    "classifiers": ("classifiers",),
    "model_patches": ("model_patches",),
    "audio_encoders": ("audio_encoders",),
    "ultralytics": ("ultralytics",),
    "ultralytics_bbox": ("ultralytics/bbox",),
    "ultralytics_segm": ("ultralytics/segm",),
    "insightface": ("insightface",),
    "reswapper": ("reswapper",),
    "facerestore_models": ("facerestore_models",),
    "reactor_faces": ("reactor/faces",),
}
FOLDER_ALIASES = {"clip": "text_encoders", "unet": "diffusion_models"}
# The folders that do not hold model files: their own extensions (none listed: every file).
OTHER_FOLDER_EXTENSIONS: dict[str, frozenset] = {"configs": frozenset({".yaml"}), "diffusers": frozenset()}
OTHER_FOLDER_EXTENSIONS.update(dict.fromkeys(("ultralytics", "ultralytics_bbox", "ultralytics_segm"),
                                            frozenset({".pt", ".pth", ".onnx"})))
OTHER_FOLDER_EXTENSIONS.update({"insightface": frozenset({".onnx"}), "reswapper": frozenset({".onnx"}),
                                "facerestore_models": frozenset({".pth", ".onnx"}),
                                "reactor_faces": frozenset({".safetensors"})})

# name -> (folder paths, file extensions), the shape ComfyUI's folder_paths shares with packs
ModelFolderTable = dict[str, tuple[list[str], set[str]]]


class UnsafePathError(ValueError):
    """A requested name that would leave its folder."""


def canonical_kind(kind: str) -> str:
    return FOLDER_ALIASES.get(kind, kind)


def standard_model_folders(models: Path) -> ModelFolderTable:
    table: ModelFolderTable = {}
    for name, subfolders in STANDARD_MODEL_FOLDERS.items():
        extensions = OTHER_FOLDER_EXTENSIONS.get(name, MODEL_FILE_EXTENSIONS)
        table[name] = ([str(models / sub) for sub in subfolders], set(extensions))
    return table


@dataclass
class Folders:
    """The app's folders: models/<kind>/, input/, output/, temp/, and any model folders added
    (extra_model_paths.yaml, packs); a model kind may span several folders."""

    models: Path
    input: Path
    output: Path
    temp: Path
    model_folders: ModelFolderTable = field(default_factory=dict)
    user: Optional[Path] = None

    def __post_init__(self) -> None:
        if not self.model_folders:
            self.model_folders = standard_model_folders(Path(self.models))

    @classmethod
    def under(cls, base: Path, models: Optional[Path] = None) -> "Folders":
        base = Path(base)
        return cls(
            models=Path(models) if models else base / "models",
            input=base / "input",
            output=base / "output",
            temp=base / "temp",
            user=base / "user",
        )

    def add_model_dir(self, kind: str, path: Path | str, first: bool = False,
                      extensions: Optional[Iterable[str]] = None) -> None:
        """Another folder for a model kind (a new kind takes the usual model extensions)."""
        kind = canonical_kind(kind)
        entry = self.model_folders.get(kind)
        if entry is None:
            entry = self.model_folders[kind] = ([], set(MODEL_FILE_EXTENSIONS if extensions is None else extensions))
        paths = entry[0]
        text = str(path)
        if text in paths:
            paths.remove(text)
        paths.insert(0, text) if first else paths.append(text)

    def model_dirs(self, kind: str) -> list[Path]:
        entry = self.model_folders.get(canonical_kind(kind))
        return [Path(p) for p in entry[0]] if entry else [self.models / kind]

    def model_extensions(self, kind: str) -> frozenset:
        entry = self.model_folders.get(canonical_kind(kind))
        return frozenset(entry[1]) if entry else MODEL_FILE_EXTENSIONS

    def list_models(self, kind: str, extensions: Optional[Iterable[str]] = None) -> list[str]:
        """Model names (relative paths with '/') in every folder of this kind, sorted.

        Symlinked files and folders are followed (models linked in from another install).
        For checkpoints, diffusers-format folders (holding model_index.json) are listed too.
        """
        names: set[str] = set()
        exts = tuple(e.lower() for e in (self.model_extensions(kind) if extensions is None else extensions))
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
                    if not exts or name.lower().endswith(exts):
                        names.add((here / name).relative_to(root).as_posix())
        return sorted(names, key=str.lower)

    def model_path(self, kind: str, name: str) -> Path:
        """The file (or diffusers folder) for a model name; FileNotFoundError if absent.

        The name may not climb out of its folder (`..`, absolute paths), but symlinks the
        user placed inside a model folder are followed wherever they point."""
        for root in self.model_dirs(kind):
            candidate = lexical_join(root, name)
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"model '{name}' not found in {', '.join(str(d) for d in self.model_dirs(kind))}")

    def annotated_path(self, name: str, default: str = "input") -> Path:
        """ComfyUI's `name [output]` notation picks the input, output or temp folder."""
        folder, name = split_annotation(name, default)
        return safe_join(self.by_type(folder), name)

    def by_type(self, kind: str) -> Path:
        if kind not in ("input", "output", "temp"):
            raise UnsafePathError(f"unknown folder type '{kind}'")
        return getattr(self, kind)

    def list_input_images(self) -> list[str]:
        return self.list_files("input", IMAGE_EXTENSIONS)

    def list_files(self, kind: str, extensions: Iterable[str]) -> list[str]:
        """Files under the input, output or temp folder with one of the extensions, as
        relative paths."""
        root, wanted = self.by_type(kind), tuple(extensions)
        if not root.is_dir():
            return []
        found = [path.relative_to(root).as_posix() for path in root.rglob("*")
                 if path.is_file() and path.suffix.lower() in wanted]
        return sorted(found, key=str.lower)


def lexical_join(root: Path, name: str) -> Path:
    """root/name for a name that stays inside root as written (no `..`, not absolute);
    symlinks are not resolved."""
    if not name or "\x00" in name:
        raise UnsafePathError("empty or invalid file name")
    relative = Path(name.replace("\\", "/"))
    if relative.is_absolute() or any(part == ".." for part in relative.parts):
        raise UnsafePathError(f"'{name}' leaves its folder")
    return Path(root) / relative


def is_inside(root: Path, path: Path) -> bool:
    """`path` is `root` or below it once symlinks are followed; `root` must be resolved."""
    resolved = Path(path).resolve()
    return resolved == root or root in resolved.parents


def split_annotation(name: str, default: str = "input") -> tuple[str, str]:
    """(folder type, name) of ComfyUI's `name [output]` notation; `default` without one."""
    folder = default
    for kind in ("input", "output", "temp"):
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            name, folder = name[: -len(suffix)], kind
    return folder, name


def safe_join(root: Path, name: str) -> Path:
    """root/name, refusing names that escape root (also through symlinks)."""
    root_resolved = Path(root).resolve()
    target = lexical_join(root_resolved, name).resolve()
    if not is_inside(root_resolved, target):
        raise UnsafePathError(f"'{name}' leaves its folder")
    return target
