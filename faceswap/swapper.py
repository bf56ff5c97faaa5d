"""A whole swap: the source faces, the target faces of every picture (ordered, picked by
index and gender), each picked target given a source face by the chosen swap, notes on
what happened. Pictures are RGB uint8 arrays."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np

from .faces import Face, pick_faces, sort_faces, with_picture
from .finder import find_faces
from .insightface_models import RECOGNISER_FILE, add_gender, add_identity, buffalo_file
from .landmark_swap import MIN_FACE_SIDE, swap_by_landmarks

BUILTIN_SWAP = "built-in (face landmarks)"
SWAP_MODEL_KINDS = ("insightface", "reswapper")


class SwapEngine(Protocol):
    name: str
    needs_identity: bool

    def swap(self, picture: np.ndarray, target: Face, source: Face) -> tuple[np.ndarray, Optional[np.ndarray]]:
        ...


class LandmarkSwap:
    """The built-in swap (see landmark_swap)."""

    name = BUILTIN_SWAP
    needs_identity = False

    def swap(self, picture: np.ndarray, target: Face, source: Face) -> tuple[np.ndarray, Optional[np.ndarray]]:
        if source.get("face_picture") is None or source.get("face_landmarks") is None:
            raise ValueError("this source face model holds no picture of the face (it was made by ReActor with "
                             "insightface), so the built-in swap cannot use it; use it with an inswapper model")
        return swap_by_landmarks(picture, target["landmarks"], source["face_picture"], source["face_landmarks"])


def swap_engine(folders: Any, swap_model: str) -> tuple[SwapEngine, list[str]]:
    """The engine for a swap_model name (an inswapper-style model, see inswapper); a model
    file that is not there falls back to the built-in swap (a shared workflow still runs)
    and says so."""
    from .inswapper import load_inswapper

    if swap_model == BUILTIN_SWAP:
        return LandmarkSwap(), []
    for kind in SWAP_MODEL_KINDS:
        try:
            return load_inswapper(folders.model_path(kind, swap_model)), []
        except FileNotFoundError:
            continue
    return LandmarkSwap(), [f"{swap_model} is not in models/insightface or models/reswapper; the built-in "
                            f"landmark swap was used instead"]


@dataclass
class SwapChoices:
    """Which faces: indexes into the faces sorted by each order, and a gender filter."""

    input_faces_index: list[int] = field(default_factory=lambda: [0])
    source_faces_index: list[int] = field(default_factory=lambda: [0])
    detect_gender_input: str = "no"
    detect_gender_source: str = "no"
    input_faces_order: str = "large-small"
    source_faces_order: str = "large-small"


def _gender_note(folders: Any, picture: np.ndarray, faces: list[Face], gender: str, what: str) -> list[str]:
    if gender == "no" or not faces:
        return []
    if add_gender(folders, picture, faces):
        return []
    return [f"{what}: gender detection needs models/insightface/models/buffalo_l/genderage.onnx; faces were "
            f"not filtered by gender"]


def faces_with_pictures(picture: np.ndarray, order: str) -> list[Face]:
    """Every face of the picture in that order, each keeping its crop (source faces)."""
    return sort_faces([with_picture(face, picture) for face in find_faces(picture)], order)


def identify(folders: Any, picture: np.ndarray, faces: list[Face], required: bool) -> None:
    """Give the faces their identity when the recogniser is there (so a face model saved
    from them works with inswapper too); when `required`, a missing recogniser raises."""
    if required or buffalo_file(folders, RECOGNISER_FILE) is not None:
        add_identity(folders, picture, faces)


def source_faces(folders: Any, picture: np.ndarray, engine: SwapEngine, choices: SwapChoices) -> tuple[list[Face], list[str]]:
    """The picked source faces, each keeping its crop (and identity when a recogniser is
    there), and notes. An identity-based engine without the recogniser raises."""
    faces = faces_with_pictures(picture, choices.source_faces_order)
    if not faces:
        return [], ["no face found in the source image"]
    notes = _gender_note(folders, picture, faces, choices.detect_gender_source, "source")
    picked, more = pick_faces(faces, choices.source_faces_index, choices.detect_gender_source, "source")
    chosen = [face for _, face in picked]
    identify(folders, picture, chosen, engine.needs_identity)
    return chosen, notes + more


@dataclass
class SwapResult:
    picture: np.ndarray
    changed: np.ndarray  # H x W bool: where the picture differs from the input
    swapped: list[Face]  # the target faces that were swapped (for restoration afterwards)
    notes: list[str]


def swap_picture(folders: Any, picture: np.ndarray, sources: list[Face], engine: SwapEngine,
                 choices: SwapChoices) -> SwapResult:
    """Every picked target face of one picture swapped, sources taken in turn."""
    changed = np.zeros(picture.shape[:2], bool)
    targets = sort_faces(find_faces(picture), choices.input_faces_order)
    if not targets:
        return SwapResult(picture, changed, [], ["no face found; passed through unchanged"])
    notes = _gender_note(folders, picture, targets, choices.detect_gender_input, "target")
    picked, more = pick_faces(targets, choices.input_faces_index, choices.detect_gender_input, "target")
    notes += more
    swapped, turn = [], 0
    for index, target in picked:
        if target.side < MIN_FACE_SIDE:
            notes.append(f"face {index} is {target.side:.0f} px across, too small to swap; left as it was")
            continue
        picture, mask = engine.swap(picture, target, sources[turn % len(sources)])
        if mask is None:
            notes.append(f"face {index} could not be swapped; left as it was")
            continue
        changed |= mask > 0
        swapped.append(target)
        turn += 1
        notes.append(f"face {index} swapped")
    return SwapResult(picture, changed, swapped, notes)
