"""How alike two faces look, without a face recogniser: one face is warped onto the
other's landmark mesh and their brightness patterns are correlated inside its hull
(Pearson's r, -1..1). Lighting and skin tone drop out; eyes, brows, glasses, wrinkles,
mouth and shading count. A swapped face scores high against its source (the measure warps
by the same mesh the built-in swap does, so it favours that swap's own result)."""
from __future__ import annotations

import numpy as np

from .landmark_swap import hull_mask, source_coordinates


def _grey(picture: np.ndarray) -> np.ndarray:
    return picture[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def face_likeness(picture: np.ndarray, points: np.ndarray, reference: np.ndarray,
                  reference_points: np.ndarray) -> float:
    """Pearson correlation of the face at `points` in `picture`, warped onto the face at
    `reference_points` in `reference`, with that reference face."""
    import cv2

    reference_points = np.asarray(reference_points, np.float32)
    hull = hull_mask(reference.shape[:2], reference_points)
    map_x, map_y, covered = source_coordinates(reference.shape[:2], reference_points,
                                               np.asarray(points, np.float32), hull)
    warped = cv2.remap(_grey(picture), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    inside = (hull & covered) > 0
    if inside.sum() < 16:
        return 0.0
    a, b = warped[inside], _grey(reference)[inside]
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 0 else 0.0
