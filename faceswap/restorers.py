"""Face restoration with ONNX restorers a user adds to models/facerestore_models (GPEN-BFR,
CodeFormer and GFPGAN exported to ONNX): each face aligned to the model's square input
from its keypoints, restored, blended by `visibility`, pasted back with a soft mask over
the face's landmark hull (hair and background stay as they were)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .alignment import crop_face, ffhq_template, hull_in_crop, paste_face, similarity
from .faces import Face
from .onnx_session import by_file, describe, open_session, side_of


class UnsupportedRestorer(ValueError):
    """A restorer file of a kind that does not run here (.pth); skipped, not an error."""


class OnnxRestorer:
    """A restorer taking and giving [1, 3, S, S] RGB in -1..1 (CodeFormer's also a `weight`)."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.session = open_session(path)
        inputs = self.session.get_inputs()
        images = [a for a in inputs if side_of(list(a.shape)) is not None]
        if len(images) != 1 or any(a not in images and len(a.shape) > 1 for a in inputs):
            raise ValueError(f"{path.name} is not a face restorer this app can run: expected an input "
                             f"[1, 3, S, S] (RGB -1..1) and optionally a 'weight'; it has {describe(inputs)}")
        self.input, self.side = images[0].name, side_of(list(images[0].shape))
        self.weight_input = next((a for a in inputs if a not in images), None)

    def restore(self, picture: np.ndarray, face: Face, visibility: float, codeformer_weight: float) -> np.ndarray:
        matrix = similarity(face["kps"], ffhq_template(self.side))
        aligned = crop_face(picture, matrix, self.side)
        feed = {self.input: ((aligned.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]}
        if self.weight_input is not None:
            kind = np.float64 if "double" in str(self.weight_input.type) else np.float32
            feed[self.weight_input.name] = np.array([codeformer_weight], kind)
        output = self.session.run(None, feed)[0][0].transpose(1, 2, 0)
        restored = np.clip((output + 1) / 2 * 255, 0, 255)
        mixed = restored * visibility + aligned.astype(np.float32) * (1 - visibility)
        inside = hull_in_crop(face["landmarks"], matrix, self.side) if face.get("landmarks") is not None else None
        return paste_face(picture, np.clip(mixed + 0.5, 0, 255).astype(np.uint8), matrix, inside)[0]


def load_restorer(path: Path) -> OnnxRestorer:
    """The restorer in that file, opened and checked once per file."""
    if path.suffix.lower() != ".onnx":
        raise UnsupportedRestorer(f"{path.name}: only ONNX face restorers run here (GPEN-BFR, CodeFormer or "
                                  f"GFPGAN exported to .onnx); for .pth models touch faces up with FaceDetailer instead")
    return by_file(path, "restorer", lambda: OnnxRestorer(path))
