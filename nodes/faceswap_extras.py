"""ReActor's other nodes: blended and weighted face models, face-model batches, face
similarity, and its small image helpers, with ReActor's names, inputs and outputs."""
from __future__ import annotations

from typing import Any, Optional

import torch

from faceswap.blending import METHODS

from .face_swapping import FACE_DETECTORS, FaceModelsNode, ModelFileCombo, pictures_of
from .faceswap_nodes import CATEGORY, NoFaceError, _restorers, face_from_image, save_face
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket, String

WEIGHTS = ["0%", "12.5%", "25%", "37.5%", "50%", "62.5%", "75%", "87.5%", "100%"]


def _faces_of_batch(ctx: Any, images: torch.Tensor) -> tuple[list, list[str]]:
    """The largest face of every image of a batch; images without a face are skipped and said."""
    faces, notes = [], []
    for index in range(images.shape[0]):
        try:
            faces.append(face_from_image(ctx, images[index:index + 1], 0))
        except NoFaceError:
            notes.append(f"image {index + 1}: no face found; skipped")
    return faces, notes


@register_node("ReActorBuildFaceModel", category=CATEGORY, display_name="Build Blended Face Model 🌌 ReActor",
               output_node=True)
class ReActorBuildFaceModel(FaceModelsNode):
    """One face model from several pictures (or face models): identities combined by the
    compute method, and the faces' pictures warped onto the first face and combined, for
    the built-in swap. Saved to models/reactor/faces unless send_only."""

    save_mode = Boolean(default=True, label_on="ON", label_off="OFF")
    send_only = Boolean(default=False, label_on="YES", label_off="NO", tooltip="Pass the blend on without saving it.")
    face_model_name = String(default="default")
    compute_method = Combo(choices=METHODS, default="Mean")
    images = Socket("IMAGE", optional=True, tooltip="Pictures of one person; the largest face of each is used.")
    face_models = Socket("FACE_MODEL", optional=True, tooltip="A batch of face models (Make Face Model Batch).")
    OUTPUTS = (Output("FACE_MODEL", "FACE_MODEL"),)

    def execute(self, ctx, save_mode: bool, send_only: bool, face_model_name: str, compute_method: str,
                images: Optional[torch.Tensor] = None, face_models: Any = None) -> NodeOutput:
        from faceswap.blending import blend_faces

        if images is None and face_models is None:
            raise ValueError("connect images or face_models to blend")
        if images is not None:
            faces, notes = _faces_of_batch(ctx, images)
        else:  # a batch from Make Face Model Batch, or one face model
            faces, notes = (list(face_models) if isinstance(face_models, (list, tuple)) else [face_models]), []
        faces = [face for face in faces if face is not None]
        if not faces:
            raise ValueError("no face found in any of the images")
        blended = blend_faces(faces, compute_method)
        notes.append(f"{len(faces)} face(s) blended ({compute_method})")
        if save_mode and not send_only:
            notes.append(save_face(ctx, blended, face_model_name))
        return NodeOutput((blended,), {"text": notes})


@register_node("ReActorMakeFaceModelBatch", category=CATEGORY, display_name="Make Face Model Batch 🌌 ReActor")
class ReActorMakeFaceModelBatch(Node):
    """Up to ten face models as one batch, for Build Blended Face Model."""

    face_model1 = Socket("FACE_MODEL")
    face_model2 = Socket("FACE_MODEL", optional=True)
    face_model3 = Socket("FACE_MODEL", optional=True)
    face_model4 = Socket("FACE_MODEL", optional=True)
    face_model5 = Socket("FACE_MODEL", optional=True)
    face_model6 = Socket("FACE_MODEL", optional=True)
    face_model7 = Socket("FACE_MODEL", optional=True)
    face_model8 = Socket("FACE_MODEL", optional=True)
    face_model9 = Socket("FACE_MODEL", optional=True)
    face_model10 = Socket("FACE_MODEL", optional=True)
    OUTPUTS = (Output("FACE_MODEL", "FACE_MODELS"),)

    def execute(self, ctx, **face_models: Any) -> tuple:
        return ([face for face in face_models.values() if face is not None],)


@register_node("ReActorSetWeight", category=CATEGORY, display_name="ReActor 🌌 Set Face Swap Weight",
               output_node=True)
class ReActorSetWeight(FaceModelsNode):
    """A face model between the input image's face and the source face: at 50% halfway,
    at 100% the source face. Feed it to the face swap's face_model with the same image."""

    input_image = Socket("IMAGE")
    faceswap_weight = Combo(choices=WEIGHTS, default="50%")
    source_image = Socket("IMAGE", optional=True)
    face_model = Socket("FACE_MODEL", optional=True)
    OUTPUTS = (Output("IMAGE", "INPUT_IMAGE"), Output("FACE_MODEL", "FACE_MODEL"))

    def execute(self, ctx, input_image: torch.Tensor, faceswap_weight: str, source_image: Optional[torch.Tensor] = None,
                face_model: Any = None) -> tuple | NodeOutput:
        from faceswap.blending import blend_faces

        if source_image is None and face_model is None:
            raise ValueError("connect a source_image or a face_model")
        weight = float(faceswap_weight.rstrip("%")) / 100
        source = face_model if face_model is not None else face_from_image(ctx, source_image, 0)
        if weight >= 1:
            return (input_image, source)
        try:
            own = face_from_image(ctx, input_image, 0)
        except NoFaceError:
            return NodeOutput((input_image, source), {"text": ["no face found in input_image; the source face is used"]})
        return (input_image, blend_faces([own, source], "Mean", [1 - weight, weight]))


@register_node("ReActorFaceSimilarity", category=CATEGORY, display_name="Face Similarity 🌌 ReActor")
class ReActorFaceSimilarity(FaceModelsNode):
    """How alike the first faces of two images are, 0..1: the cosine of their identity
    vectors when the buffalo_l recogniser is there, otherwise the correlation of one face
    warped onto the other's landmarks (a likeness of features, not a true identity check)."""

    image1 = Socket("IMAGE")
    image2 = Socket("IMAGE")
    OUTPUTS = (Output("FLOAT", "similarity_float"), Output("STRING", "similarity_text"))

    def execute(self, ctx, image1: torch.Tensor, image2: torch.Tensor) -> tuple:
        import numpy as np

        from faceswap.finder import find_faces
        from faceswap.insightface_models import RECOGNISER_FILE, add_identity, buffalo_file
        from faceswap.likeness import face_likeness

        first, second = pictures_of(image1[:1])[0], pictures_of(image2[:1])[0]
        faces1, faces2 = find_faces(first), find_faces(second)
        if not faces1 or not faces2:
            return (0.0, "Face not found in one or both images")
        if buffalo_file(ctx.folders, RECOGNISER_FILE) is not None:
            add_identity(ctx.folders, first, faces1[:1])
            add_identity(ctx.folders, second, faces2[:1])
            value = float(np.dot(faces1[0].normed_embedding, faces2[0].normed_embedding))
        else:
            value = face_likeness(first, faces1[0].landmarks, second, faces2[0].landmarks)
        value = min(1.0, max(0.0, value))
        return (value, f"{value * 100:.2f}%")


@register_node("ReActorImageDublicator", category=CATEGORY, display_name="Image Dublicator (List) 🌌 ReActor")
class ReActorImageDublicator(Node):
    """The image `count` times, as a list (nodes after it run once per copy)."""

    image = Socket("IMAGE")
    count = Int(default=1, min=0)
    OUTPUTS = (Output("IMAGE", "IMAGES", is_list=True),)

    def execute(self, ctx, image: torch.Tensor, count: int) -> tuple:
        return ([image for _ in range(count)],)


@register_node("ImageRGBA2RGB", category=CATEGORY, display_name="Convert RGBA to RGB 🌌 ReActor")
class ImageRGBA2RGB(Node):
    """Drops the alpha channel."""

    image = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor) -> tuple:
        return (image[..., :3].contiguous(),)


@register_node("ReActorUnload", category=CATEGORY, display_name="Unload ReActor Models 🌌 ReActor")
class ReActorUnload(Node):
    """Frees the face-swap models held in memory; the image passes through."""

    trigger = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, trigger: torch.Tensor) -> tuple:
        from faceswap.onnx_session import forget_sessions

        forget_sessions()
        return (trigger,)


def _selected_faces(picture: Any, selection: str, sort_by: str, reverse: bool, start: int, count: int) -> list:
    """ReActor's face selection for restoring: all faces, or those sorted by area, position
    (of the centre) or confidence, from `start`, `count` of them."""
    from faceswap.finder import find_faces

    faces = find_faces(picture)
    if selection == "all":
        return faces
    keys = {"area": lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])),
            "x_position": lambda f: float(f.bbox[0] + f.bbox[2]), "y_position": lambda f: float(f.bbox[1] + f.bbox[3]),
            "detection_confidence": lambda f: float(f.det_score)}
    return sorted(faces, key=keys[sort_by], reverse=reverse)[start:start + count]


@register_node("ReActorRestoreFaceAdvanced", category=CATEGORY, display_name="Restore Face Advanced 🌌 ReActor")
class ReActorRestoreFaceAdvanced(FaceModelsNode):
    """Restore Face for some of the faces: sorted by area, position or confidence (reversed
    if asked), take_count of them from take_start; `all` restores every face."""

    image = Socket("IMAGE")
    facedetection = Combo(choices=FACE_DETECTORS, tooltip="Kept for ReActor workflows; faces are found by the face mesh.")
    model = ModelFileCombo(choices=_restorers)
    visibility = Float(default=1, min=0.0, max=1, step=0.05)
    codeformer_weight = Float(default=0.5, min=0.0, max=1, step=0.05)
    face_selection = Combo(choices=["all", "filter", "largest"], default="all")
    sort_by = Combo(choices=["area", "x_position", "y_position", "detection_confidence"], default="area", optional=True)
    reverse_order = Boolean(default=False, optional=True)
    take_start = Int(default=0, min=0, max=100, step=1, optional=True)
    take_count = Int(default=1, min=1, max=100, step=1, optional=True)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, facedetection: str, model: str, visibility: float,
                codeformer_weight: float, face_selection: str, sort_by: str = "area", reverse_order: bool = False,
                take_start: int = 0, take_count: int = 1) -> NodeOutput:
        from .face_swapping import restore_batch

        def choose(picture: Any) -> list:
            return _selected_faces(picture, face_selection, sort_by, reverse_order, take_start, take_count)

        restored, notes = restore_batch(ctx, image, choose, model, visibility, codeformer_weight)
        return NodeOutput((restored,), {"text": notes})
