"""Blending several source faces into one face model, as ReActor's Build Blended Face
Model and Set Face Swap Weight do: identity vectors are combined (mean, median or mode),
and for the built-in swap the faces' pictures are warped onto the first face's mesh and
combined pixel by pixel inside its hull."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .faces import Face
from .landmark_swap import hull_mask, source_coordinates

METHODS = ["Mean", "Median", "Mode"]


def _combine(stack: np.ndarray, method: str, weights: Optional[np.ndarray]) -> np.ndarray:
    if method == "Median":
        return np.median(stack, axis=0)
    if method == "Mode":
        from scipy import stats

        return stats.mode(stack, axis=0, keepdims=False)[0]
    weights = np.full(len(stack), 1 / len(stack)) if weights is None else weights / weights.sum()
    return np.tensordot(weights, stack.astype(np.float64), axes=1)


def _pictures_on_first_mesh(faces: list[Face]) -> tuple[np.ndarray, np.ndarray]:
    """Every face's picture warped onto the first face's picture and landmarks, and the
    mask (the first face's hull) where they are all defined."""
    import cv2

    base = faces[0]
    shape = base["face_picture"].shape[:2]
    hull = hull_mask(shape, base["face_landmarks"])
    stack, covered_all = [], hull.copy()
    for face in faces:
        map_x, map_y, covered = source_coordinates(shape, base["face_landmarks"], face["face_landmarks"], hull)
        warped = cv2.remap(face["face_picture"], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        stack.append(warped)
        covered_all &= covered
    return np.stack(stack), covered_all.astype(bool)


def blend_faces(faces: list[Face], method: str = "Mean", weights: Optional[list[float]] = None) -> Face:
    """One face from several: the first face's geometry, the combined identity and picture.
    Parts only some faces have (an identity without a picture, say) come from those that have them."""
    if not faces:
        raise ValueError("no faces to blend")
    if method not in METHODS:
        raise ValueError(f"compute_method {method!r} is not one of {', '.join(METHODS)}")
    if len(faces) == 1:
        return Face(faces[0])
    weight_array = None if weights is None else np.asarray(weights, np.float64)
    blended = Face(faces[0])
    with_identity = [i for i, f in enumerate(faces) if f.get("embedding") is not None]
    if with_identity:
        stack = np.stack([np.asarray(faces[i]["embedding"], np.float32) for i in with_identity])
        chosen = None if weight_array is None else weight_array[with_identity]
        blended["embedding"] = _combine(stack, method, chosen).astype(np.float32)
    with_picture = [i for i, f in enumerate(faces) if f.get("face_picture") is not None]
    if len(with_picture) > 1:
        group = [faces[i] for i in with_picture]
        stack, inside = _pictures_on_first_mesh(group)
        chosen = None if weight_array is None else weight_array[with_picture]
        mixed = np.clip(_combine(stack, method, chosen) + 0.5, 0, 255).astype(np.uint8)
        picture = group[0]["face_picture"].copy()
        picture[inside] = mixed[inside]
        blended.update(face_picture=picture, face_landmarks=group[0]["face_landmarks"],
                       landmarks=group[0].get("landmarks"))
    return blended
