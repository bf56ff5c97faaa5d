"""The insightface `buffalo_l` analysis models a user may add beside a swapper
(models/insightface/models/buffalo_l/): the ArcFace recogniser that turns a face into its
identity vector, and the gender/age estimator. Read from disk only; never downloaded."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .alignment import arcface_template, crop_face, similarity
from .faces import Face
from .onnx_session import describe, open_session, side_of

BUFFALO = Path("models") / "buffalo_l"
RECOGNISER_FILE = "w600k_r50.onnx"
GENDER_AGE_FILE = "genderage.onnx"


def buffalo_file(folders: Any, name: str) -> Optional[Path]:
    """models/insightface/models/buffalo_l/<name> in any insightface folder, if there."""
    for root in folders.model_dirs("insightface"):
        path = root / BUFFALO / name
        if path.is_file():
            return path
    return None


def expected_place(folders: Any, name: str) -> str:
    roots = folders.model_dirs("insightface")
    return str((roots[0] if roots else Path("models/insightface")) / BUFFALO / name)


def _image_input(session: Any, path: Path, what: str) -> tuple[str, int]:
    inputs = session.get_inputs()
    side = side_of(list(inputs[0].shape)) if len(inputs) == 1 else None
    if side is None:
        raise ValueError(f"{path.name} is not {what}: expected one input [1, 3, S, S]; it has {describe(inputs)}")
    return inputs[0].name, side


class Recogniser:
    """ArcFace: the face aligned to 112 x 112 from its keypoints, scaled to -1..1 -> 512 numbers."""

    def __init__(self, path: Path) -> None:
        self.session = open_session(path)
        self.input, self.side = _image_input(self.session, path, "a face recogniser")

    def embed(self, picture: np.ndarray, face: Face) -> np.ndarray:
        aligned = crop_face(picture, similarity(face["kps"], arcface_template(self.side)), self.side)
        blob = ((aligned.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        return self.session.run(None, {self.input: blob})[0].reshape(-1).astype(np.float32)


class GenderAge:
    """insightface's attribute model: the face box grown 1.5 times, upright, 96 x 96 -> gender, age."""

    def __init__(self, path: Path) -> None:
        self.session = open_session(path)
        self.input, self.side = _image_input(self.session, path, "a gender/age model")

    def estimate(self, picture: np.ndarray, face: Face) -> tuple[int, int]:
        x1, y1, x2, y2 = (float(v) for v in face["bbox"])
        scale = self.side / (max(x2 - x1, y2 - y1) * 1.5)
        centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
        matrix = np.array([[scale, 0, self.side / 2 - centre_x * scale],
                           [0, scale, self.side / 2 - centre_y * scale]], np.float32)
        blob = crop_face(picture, matrix, self.side).astype(np.float32).transpose(2, 0, 1)[None]
        prediction = self.session.run(None, {self.input: blob})[0].reshape(-1)
        return int(np.argmax(prediction[:2])), int(round(float(prediction[2]) * 100))


def add_identity(folders: Any, picture: np.ndarray, faces: list[Face]) -> None:
    """Each face's identity vector from the recogniser; an error naming the file when it is missing."""
    path = buffalo_file(folders, RECOGNISER_FILE)
    if path is None:
        raise FileNotFoundError(f"the swap model needs the source face's identity from the face recogniser "
                                f"{expected_place(folders, RECOGNISER_FILE)}, which is missing (insightface's "
                                f"buffalo_l pack); nothing is downloaded: put the file there, or use the built-in swap")
    recogniser = Recogniser(path)
    for face in faces:
        face["embedding"] = recogniser.embed(picture, face)


def add_gender(folders: Any, picture: np.ndarray, faces: list[Face]) -> bool:
    """Each face's gender and age, when genderage.onnx is there (says whether it was)."""
    path = buffalo_file(folders, GENDER_AGE_FILE)
    if path is None:
        return False
    estimator = GenderAge(path)
    for face in faces:
        face["gender"], face["age"] = estimator.estimate(picture, face)
    return True
