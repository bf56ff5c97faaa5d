"""The face swap and face restoration as the ReActor nodes run them on IMAGE batches:
pictures go to the faceswap package as uint8, and only the pixels it changed are taken
back, so the rest of each image stays bit-identical."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from .folders import UnsafePathError, lexical_join
from .registry import Node
from .spec import Combo

FACE_DETECTORS = ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"]
MODEL_FILE_SUFFIXES = (".onnx", ".pth", ".pt", ".safetensors")


@dataclass(frozen=True)
class ModelFileCombo(Combo):
    """A model list that also takes a file name it does not list: a shared workflow naming
    a model this install lacks still runs, and the node says what it did instead."""

    def coerce(self, value: Any, folders: Any = None) -> str:
        if isinstance(value, str) and value.lower().endswith(MODEL_FILE_SUFFIXES):
            try:
                lexical_join(Path("."), value)  # a name that stays inside its folder
                return value
            except UnsafePathError:
                pass
        return super().coerce(value, folders)


FACE_MODEL_KINDS = ("insightface", "reswapper", "facerestore_models")


def model_files_state(folders: Any) -> list:
    """Name, time and size of every file the face nodes may read (swappers, the buffalo_l
    analysis models, restorers), so adding or replacing one re-runs them."""
    state = []
    for kind in FACE_MODEL_KINDS:
        for name in folders.list_models(kind):
            try:
                stat = folders.model_path(kind, name).stat()
            except (FileNotFoundError, ValueError):
                continue
            state.append([kind, name, stat.st_mtime_ns, stat.st_size])
    return state


class FaceModelsNode(Node):
    """A node whose result depends on the face models on disk (see model_files_state)."""

    @classmethod
    def fingerprint(cls, folders: Any, **_: Any) -> Any:
        return model_files_state(folders)


def pictures_of(image: torch.Tensor) -> list[np.ndarray]:
    """Each picture of an IMAGE batch as RGB uint8 (grey pictures repeated to three channels)."""
    if image.shape[-1] < 3:
        image = image[..., :1].expand(*image.shape[:-1], 3)
    rgb = (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return [rgb[index] for index in range(rgb.shape[0])]


def merge_changes(image: torch.Tensor, index: int, picture: np.ndarray, changed: np.ndarray) -> torch.Tensor:
    """Image `index` of the batch with the changed pixels taken from `picture`."""
    original = image[index]
    new = torch.from_numpy(picture.astype(np.float32) / 255.0).to(original.device, original.dtype)
    if original.shape[-1] > 3:
        new = torch.cat([new, original[..., 3:]], dim=-1)
    where = torch.from_numpy(changed).to(original.device)[..., None]
    return torch.where(where, new, original)


def restore_faces(folders: Any, picture: np.ndarray, faces: Optional[list], model_name: str, visibility: float,
                  codeformer_weight: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The faces (all found, when `faces` is None) restored with an ONNX restorer; a
    restorer that is missing or cannot run here is skipped with a note."""
    from faceswap.finder import find_faces
    from faceswap.restorers import UnsupportedRestorer, load_restorer

    changed = np.zeros(picture.shape[:2], bool)
    if model_name == "none":
        return picture, changed, []
    try:
        restorer = load_restorer(folders.model_path("facerestore_models", model_name))
    except FileNotFoundError:
        return picture, changed, [f"face restoration skipped: {model_name} is not in models/facerestore_models"]
    except UnsupportedRestorer as error:
        return picture, changed, [f"face restoration skipped: {error}"]
    faces = find_faces(picture) if faces is None else faces
    for face in faces:
        before = picture
        picture = restorer.restore(picture, face, visibility, codeformer_weight)
        changed |= (picture != before).any(axis=-1)
    return picture, changed, [f"{len(faces)} face(s) restored with {model_name}"] if faces else []


def restore_batch(ctx: Any, image: torch.Tensor, choose: Callable[[np.ndarray], Optional[list]], model: str,
                  visibility: float, codeformer_weight: float) -> tuple[torch.Tensor, list[str]]:
    """Every image of the batch with the faces `choose` picks (None: all) restored; notes."""
    frames, notes = [], []
    for index, picture in enumerate(pictures_of(image)):
        ctx.check_interrupted()
        picture, changed, said = restore_faces(ctx.folders, picture, choose(picture), model, visibility,
                                               codeformer_weight)
        frames.append(merge_changes(image, index, picture, changed))
        notes += [f"image {index + 1}: {note}" for note in said]
    return torch.stack(frames, dim=0), notes


@dataclass
class RestoreSettings:
    model: str = "none"
    visibility: float = 1.0
    codeformer_weight: float = 0.5
    swapped_only: bool = True


def swap_images(ctx: Any, image: torch.Tensor, swap_model: str, choices: Any, source_image: Optional[torch.Tensor],
                face_model: Any, restores: list[RestoreSettings]) -> tuple[torch.Tensor, Any, list[str]]:
    """Every image of the batch with its picked faces swapped (then restored by each of
    `restores` in turn); the source face used (a FACE_MODEL), and notes for the UI text."""
    from faceswap.swapper import source_faces, swap_engine, swap_picture

    engine, notes = swap_engine(ctx.folders, swap_model)
    if source_image is not None:  # as in ReActor, a source image wins over a face model
        sources, more = source_faces(ctx.folders, pictures_of(source_image[:1])[0], engine, choices)
        notes += more
    else:
        sources = [face_model]
    if not sources:
        return image, None, notes + ["nothing was swapped; the images passed through unchanged"]
    frames = []
    for index, picture in enumerate(pictures_of(image)):
        ctx.check_interrupted()
        result = swap_picture(ctx.folders, picture, sources, engine, choices)
        picture, changed, more = result.picture, result.changed, result.notes
        for restore in restores:
            if restore.swapped_only and not result.swapped:
                continue
            picture, restored, said = restore_faces(ctx.folders, picture, result.swapped if restore.swapped_only
                                                    else None, restore.model, restore.visibility,
                                                    restore.codeformer_weight)
            changed, more = changed | restored, more + said
        frames.append(merge_changes(image, index, picture, changed))
        notes += [f"image {index + 1}: {note}" for note in more]
        ctx.report_progress(index + 1, image.shape[0])
    return torch.stack(frames, dim=0), sources[0], notes
