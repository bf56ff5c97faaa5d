"""Saved source faces (FACE_MODEL files, models/reactor/faces/*.safetensors) in ReActor's
layout (bbox, kps, det_score, landmark_3d_68, pose, landmark_2d_106, embedding, gender,
age), plus what the built-in swap needs: the face's crop and its mesh landmarks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .faces import Face

# ReActor's keys, with what is written when this app does not know the value.
REACTOR_KEYS = {"bbox": np.zeros(4, np.float32), "kps": np.zeros((5, 2), np.float32),
                "det_score": np.float32(0), "landmark_3d_68": np.zeros((68, 3), np.float32),
                "pose": np.zeros(3, np.float32), "landmark_2d_106": np.zeros((106, 2), np.float32),
                "gender": np.int64(-1), "age": np.int64(-1)}
OWN_KEYS = ("embedding", "landmarks", "face_picture", "face_landmarks")


def save_face_model(face: Face, folder: Path, name: str) -> Path:
    """Write the face to folder/name.safetensors, or name_1, name_2 ... when that is taken
    (created exclusively: two saves at once never overwrite each other); the path used."""
    import torch
    from safetensors.torch import save

    tensors = {}
    for key, placeholder in REACTOR_KEYS.items():
        value = face.get(key)
        tensors[key] = torch.as_tensor(np.asarray(placeholder if value is None else value)).contiguous()
    for key in OWN_KEYS:
        if face.get(key) is not None:
            tensors[key] = torch.as_tensor(np.ascontiguousarray(face[key])).contiguous()
    data = save(tensors, metadata={"format": "face model"})
    folder.mkdir(parents=True, exist_ok=True)
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    for number in range(100000):
        path = folder / (f"{stem}.safetensors" if number == 0 else f"{stem}_{number}.safetensors")
        try:
            with open(path, "xb") as handle:
                handle.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {stem} in {folder}")


def load_face_model(path: Path) -> Face:
    """A face model file (ours or ReActor's) as a Face; unknown values (-1, zeros) as None."""
    from safetensors import safe_open

    face = Face()
    with safe_open(str(path), framework="np") as handle:
        for key in handle.keys():
            face[key] = handle.get_tensor(key)
    for key in ("gender", "age"):
        if key in face and int(np.asarray(face[key]).reshape(-1)[0]) < 0:
            face[key] = None
        elif key in face:
            face[key] = int(np.asarray(face[key]).reshape(-1)[0])
    return face
