"""One face as the swapper sees it, in the layout of ReActor's face models (a dict whose
keys read as attributes too), and how faces are ordered, picked by index and by gender."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

FACE_ORDERS = ["left-right", "right-left", "top-bottom", "bottom-top", "small-large", "large-small"]
GENDERS = ["no", "female", "male"]
# The face mesh points whose means are the five alignment keypoints, in insightface's order:
# eye on the picture's left, eye on the right, nose tip, mouth corner left, mouth corner right
# (outer and inner lip corners averaged: a smile moves the outer ones).
FIVE_POINT_MESH = ((33, 133), (362, 263), (4,), (61, 78), (291, 308))


class Face(dict):
    """A face: `bbox` (x1, y1, x2, y2), `kps` (5 x 2), `det_score`, and when known
    `landmarks` (468 x 2, picture pixels), `embedding` (an identity vector from a face
    recogniser), `gender` (0 female, 1 male) and `age`; a source face also keeps
    `face_picture` (its crop, uint8) with `face_landmarks` in that crop."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    @property
    def normed_embedding(self) -> Optional[np.ndarray]:
        embedding = self.get("embedding")
        if embedding is None:
            return None
        norm = float(np.linalg.norm(embedding))
        return embedding if norm == 0 else embedding / norm

    @property
    def width(self) -> float:
        return float(self["bbox"][2] - self["bbox"][0])

    @property
    def side(self) -> float:
        """The shorter side of the face's box."""
        return float(min(self["bbox"][2] - self["bbox"][0], self["bbox"][3] - self["bbox"][1]))


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """insightface's five keypoints from the 468-point face mesh."""
    return np.array([landmarks[list(group)].mean(axis=0) for group in FIVE_POINT_MESH], np.float32)


def face_from_landmarks(landmarks: np.ndarray, score: float) -> Face:
    landmarks = np.asarray(landmarks, np.float32)
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    return Face(bbox=np.array([low[0], low[1], high[0], high[1]], np.float32), kps=five_points(landmarks),
                det_score=np.float32(score), landmarks=landmarks)


def with_picture(face: Face, picture: np.ndarray, margin: float = 0.25) -> Face:
    """The face with its own crop kept, so it can be swapped in without the whole picture."""
    height, width = picture.shape[:2]
    x1, y1, x2, y2 = face["bbox"]
    grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = int(max(0, np.floor(x1 - grow_x))), int(max(0, np.floor(y1 - grow_y)))
    right, bottom = int(min(width, np.ceil(x2 + grow_x))), int(min(height, np.ceil(y2 + grow_y)))
    kept = Face(face)
    kept["face_picture"] = np.ascontiguousarray(picture[top:bottom, left:right, :3], dtype=np.uint8)
    kept["face_landmarks"] = (np.asarray(face["landmarks"], np.float32) - [left, top]).astype(np.float32)
    return kept


def sort_faces(faces: list[Face], order: str) -> list[Face]:
    """ReActor's orders; large-small (the default) puts the biggest face first."""
    def area(face: Face) -> float:
        x1, y1, x2, y2 = face["bbox"]
        return float((x2 - x1) * (y2 - y1))

    keys = {"left-right": (lambda f: f["bbox"][0], False), "right-left": (lambda f: f["bbox"][0], True),
            "top-bottom": (lambda f: f["bbox"][1], False), "bottom-top": (lambda f: f["bbox"][1], True),
            "small-large": (area, False), "large-small": (area, True)}
    if order not in keys:
        raise ValueError(f"face order {order!r} is not one of: {', '.join(FACE_ORDERS)}")
    key, reverse = keys[order]
    return sorted(faces, key=key, reverse=reverse)


def parse_indexes(text: Any, what: str) -> list[int]:
    """'0,2' -> [0, 2]; an empty text means the first face."""
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if not parts:
        return [0]
    try:
        indexes = [int(part) for part in parts]
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a list of face numbers such as 0 or 0,2") from None
    if any(index < 0 for index in indexes):
        raise ValueError(f"{what}: face numbers start at 0; got {text!r}")
    return indexes


def pick_faces(faces: list[Face], indexes: list[int], gender: str, what: str) -> tuple[list[tuple[int, Face]], list[str]]:
    """The faces at those indexes (in the order already sorted) of the wanted gender, and
    a note for each index that is out of range or of another gender. Faces of unknown
    gender (no gender model) are not filtered; the caller says so once."""
    picked, notes = [], []
    wanted = {"female": 0, "male": 1}.get(gender)
    for index in indexes:
        if index >= len(faces):
            notes.append(f"{what} face {index} asked for, but only {len(faces)} found")
            continue
        face = faces[index]
        known = face.get("gender") is not None and int(face["gender"]) >= 0
        if wanted is not None and known and int(face["gender"]) != wanted:
            notes.append(f"{what} face {index} is not {gender}; skipped")
            continue
        picked.append((index, face))
    return picked, notes
