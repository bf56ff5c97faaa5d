"""insightface-style face swappers (inswapper_128.onnx and models with its signature, such
as ReSwapper): the target face aligned to the model's square input from its five
keypoints, the source identity (a recogniser's embedding, through the model's `emap`,
its last initializer) as the second input, the result pasted back with a soft mask."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .alignment import arcface_template, crop_face, paste_face, similarity
from .faces import Face
from .onnx_session import by_file, describe, open_session, side_of

EXPECTED = ("inputs 'target' [1, 3, 128, 128] (the aligned face, RGB 0..1) and 'source' [1, 512] (the identity), "
            "an output [1, 3, 128, 128] and a 512 x 512 last initializer (emap)")


def read_emap(path: Path) -> np.ndarray:
    """The model's last initializer, which maps a recogniser's embedding into its latent."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    if not model.graph.initializer:
        raise ValueError(f"{path.name} has no initializers, so no emap; a swapper needs {EXPECTED}")
    return numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float32)


@dataclass
class Inswapper:
    """An opened swapper and the names and sizes it was checked to have (a swap engine:
    see swapper)."""

    needs_identity = True  # not a field: every swapper takes the source face's identity
    name: str
    session: Any
    target_input: str
    source_input: str
    side: int
    emap: np.ndarray

    def swap(self, picture: np.ndarray, target: Face, source: Face) -> tuple[np.ndarray, np.ndarray]:
        """`picture` (RGB uint8) with `target`'s face given `source`'s identity; also the mask used."""
        identity = source.normed_embedding
        if identity is None:
            raise ValueError(f"{self.name} needs the source face's identity (an embedding from a face recogniser)")
        identity = np.asarray(identity, np.float32).reshape(1, -1)
        if identity.shape[1] != self.emap.shape[0]:
            raise ValueError(f"the source face's identity has {identity.shape[1]} numbers; {self.name} takes "
                             f"{self.emap.shape[0]}")
        latent = identity @ self.emap
        latent /= max(float(np.linalg.norm(latent)), 1e-12)
        matrix = similarity(target["kps"], arcface_template(self.side))
        aligned = crop_face(picture, matrix, self.side)
        blob = (aligned.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        output = self.session.run(None, {self.target_input: blob, self.source_input: latent.astype(np.float32)})[0]
        face = np.clip(output[0].transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
        return paste_face(picture, face, matrix)


def load_inswapper(path: Path) -> Inswapper:
    """Open and check a swapper (once per file: reading its emap parses the whole model);
    a model of another shape gets an error naming what is expected."""
    return by_file(path, "inswapper", lambda: _open_inswapper(path))


def _open_inswapper(path: Path) -> Inswapper:
    session = open_session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    images = [a for a in inputs if side_of(list(a.shape)) is not None]
    vectors = [a for a in inputs if len(a.shape) == 2]
    problem = None
    if len(inputs) != 2 or len(images) != 1 or len(vectors) != 1:
        problem = f"its inputs are {describe(inputs)}"
    elif not outputs or side_of(list(outputs[0].shape)) != side_of(list(images[0].shape)):
        problem = f"its outputs are {describe(outputs)}"
    if problem is None:
        emap = read_emap(path)
        width = vectors[0].shape[1]
        if emap.ndim != 2 or emap.shape[0] != emap.shape[1] or (isinstance(width, int) and width != emap.shape[1]):
            problem = f"its last initializer is {list(emap.shape)}, not a square emap matching 'source'"
    if problem is not None:
        raise ValueError(f"{path.name} is not a face swapper this app can run: expected {EXPECTED}; {problem}")
    return Inswapper(path.name, session, images[0].name, vectors[0].name, side_of(list(images[0].shape)), emap)
