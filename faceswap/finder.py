"""Finding the faces to swap: BlazeFace finds each face, the face mesh gives its 468
landmarks (the five alignment keypoints come from them). Offline, from the mediapipe wheel."""
from __future__ import annotations

import numpy as np

from .faces import Face, face_from_landmarks

MESH_DETECTOR = "face (mediapipe face mesh, with mask)"


def find_faces(picture: np.ndarray, threshold: float = 0.5) -> list[Face]:
    """The faces in an RGB uint8 picture that have landmarks, in the detector's order."""
    from detection.builtin import builtin_detector

    found = builtin_detector(MESH_DETECTOR).detect(np.ascontiguousarray(picture[..., :3]), threshold)
    return [face_from_landmarks(d.points, d.confidence) for d in found if d.points is not None]
