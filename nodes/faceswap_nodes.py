"""The ReActor face-swap nodes, with ReActor's names, inputs and outputs, so its workflows
run here unchanged. Built in and offline: a landmark-based swap (plausible, not roop
quality); with insightface's inswapper_128.onnx in models/insightface (and the buffalo_l
recogniser), the model's swap."""
from __future__ import annotations

from typing import Any, Optional

import torch

from faceswap.faces import FACE_ORDERS, GENDERS

from .face_swapping import FACE_DETECTORS, FaceModelsNode, ModelFileCombo, RestoreSettings, pictures_of, swap_images
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket, String

CATEGORY = "face swap"
LOG_LEVELS = [0, 1, 2]
INTERPOLATIONS = ["Nearest", "Bilinear", "Bicubic", "Lanczos"]


def _swap_models(folders: Any = None) -> list[str]:
    from faceswap.swapper import BUILTIN_SWAP, SWAP_MODEL_KINDS

    found = [] if folders is None else [name for kind in SWAP_MODEL_KINDS for name in folders.list_models(kind)
                                        if "/" not in name]  # models/insightface/models/ holds analysis models
    return found + [BUILTIN_SWAP]


def _restorers(folders: Any = None) -> list[str]:
    return ["none"] + ([] if folders is None else folders.list_models("facerestore_models"))


def _face_models(folders: Any = None) -> list[str]:
    return ["none"] + ([] if folders is None else folders.list_models("reactor_faces"))


def _choices(options: dict) -> Any:
    from faceswap.faces import parse_indexes
    from faceswap.swapper import SwapChoices

    return SwapChoices(
        input_faces_index=parse_indexes(options.get("input_faces_index", "0"), "input_faces_index"),
        source_faces_index=parse_indexes(options.get("source_faces_index", "0"), "source_faces_index"),
        detect_gender_input=options.get("detect_gender_input", "no"),
        detect_gender_source=options.get("detect_gender_source", "no"),
        input_faces_order=options.get("input_faces_order", "large-small"),
        source_faces_order=options.get("source_faces_order", "large-small"))


def _restores(inputs: dict, boost: Optional[dict], swapped_only: bool) -> list[RestoreSettings]:
    """The face booster (if on) restores first; the main restorer after it only when the
    booster asks for it (restore_with_main_after), as in ReActor."""
    main = RestoreSettings(inputs["face_restore_model"], inputs["face_restore_visibility"],
                           inputs["codeformer_weight"], swapped_only)
    if not boost or not boost.get("enabled"):
        return [main]
    boosted = RestoreSettings(boost["boost_model"], boost["visibility"], boost["codeformer_weight"], True)
    return [boosted, main] if boost.get("restore_with_main_after") else [boosted]


class _SwapInputs(FaceModelsNode):
    """The inputs both face-swap nodes share, in ReActor's order."""

    enabled = Boolean(default=True, label_on="ON", label_off="OFF", added_later=True,
                      tooltip="Off: the image passes through.")
    input_image = Socket("IMAGE", tooltip="The image(s) whose faces get the source face.")
    swap_model = ModelFileCombo(choices=_swap_models, tooltip=(
        "inswapper_128.onnx (in models/insightface) and models like it, or the built-in landmark swap. A model "
        "a workflow names but this install lacks is replaced by the built-in swap."))
    facedetection = Combo(choices=FACE_DETECTORS, tooltip=(
        "ReActor's face detectors for restoration; here faces are always found by the built-in face mesh."))
    face_restore_model = ModelFileCombo(choices=_restorers, tooltip=(
        "An ONNX face restorer from models/facerestore_models run on the swapped faces (GFPGAN and CodeFormer "
        ".pth files are skipped: touch up with FaceDetailer instead)."))
    face_restore_visibility = Float(default=1, min=0.1, max=1, step=0.05, tooltip="How much of the restored face shows.")
    codeformer_weight = Float(default=0.5, min=0.0, max=1, step=0.05, tooltip="CodeFormer's fidelity weight.")


def _run_swap(ctx: Any, inputs: dict, options: dict, swapped_only: bool = True) -> NodeOutput:
    image, face_model, source = inputs["input_image"], inputs.get("face_model"), inputs.get("source_image")
    if not inputs["enabled"]:
        return NodeOutput((image, face_model, image), {"text": ["face swap is off; the image passed through"]})
    if source is None and face_model is None:
        raise ValueError("connect a source_image (the face to put in) or a face_model")
    swapped, used, notes = swap_images(ctx, image, inputs["swap_model"], _choices(options), source, face_model,
                                       _restores(inputs, inputs.get("face_boost"), swapped_only))
    return NodeOutput((swapped, used, image), {"text": notes})


_OUTPUTS = (Output("IMAGE", "SWAPPED_IMAGE"), Output("FACE_MODEL", "FACE_MODEL"), Output("IMAGE", "ORIGINAL_IMAGE"))


@register_node("ReActorFaceSwap", category=CATEGORY, display_name="ReActor 🌌 Fast Face Swap")
class ReActorFaceSwap(_SwapInputs):
    """Gives the chosen faces of the image the source face. Built in: the source face's
    texture warped onto each target face's landmarks, colour-matched and blended in,
    keeping the target's pose and expression: plausible, not roop quality. With
    inswapper_128.onnx in models/insightface and insightface's buffalo_l recogniser
    (w600k_r50.onnx) in models/insightface/models/buffalo_l, the model does the swap."""

    detect_gender_input = Combo(choices=GENDERS, default="no",
                                tooltip="Swap only target faces of this gender (needs buffalo_l's genderage.onnx).")
    detect_gender_source = Combo(choices=GENDERS, default="no",
                                 tooltip="Take only source faces of this gender (needs genderage.onnx).")
    input_faces_index = String(default="0", tooltip="Which faces to swap, largest first from 0: 0 or 0,2.")
    source_faces_index = String(default="0", tooltip="Which source faces to use, in turn: 0 or 1,0.")
    console_log_level = Combo(choices=LOG_LEVELS, default=1, tooltip="Kept for ReActor workflows; notes show in the UI.")
    source_image = Socket("IMAGE", optional=True, tooltip="A picture with the face to put in (its first image).")
    face_model = Socket("FACE_MODEL", optional=True, tooltip="A saved source face (used when no source_image is connected).")
    face_boost = Socket("FACE_BOOST", optional=True)
    OUTPUTS = _OUTPUTS

    def execute(self, ctx, **inputs: Any) -> NodeOutput:
        return _run_swap(ctx, inputs, inputs)


@register_node("ReActorFaceSwapOpt", category=CATEGORY, display_name="ReActor 🌌 Fast Face Swap [OPTIONS]")
class ReActorFaceSwapOpt(_SwapInputs):
    """The face swap with its face choices (orders, indexes, gender) from ReActor Options."""

    source_image = Socket("IMAGE", optional=True, tooltip="A picture with the face to put in (its first image).")
    face_model = Socket("FACE_MODEL", optional=True, tooltip="A saved source face (used when no source_image is connected).")
    options = Socket("OPTIONS", optional=True)
    face_boost = Socket("FACE_BOOST", optional=True)
    OUTPUTS = _OUTPUTS

    def execute(self, ctx, **inputs: Any) -> NodeOutput:
        options = inputs.get("options") or {}
        return _run_swap(ctx, inputs, options, bool(options.get("restore_swapped_only", True)))


@register_node("ReActorOptions", category=CATEGORY, display_name="ReActor 🌌 Options")
class ReActorOptions(Node):
    """Which faces the face swap [OPTIONS] node takes: order, indexes and gender of each side."""

    input_faces_order = Combo(choices=FACE_ORDERS, default="large-small")
    input_faces_index = String(default="0")
    detect_gender_input = Combo(choices=GENDERS, default="no")
    source_faces_order = Combo(choices=FACE_ORDERS, default="large-small")
    source_faces_index = String(default="0")
    detect_gender_source = Combo(choices=GENDERS, default="no")
    console_log_level = Combo(choices=LOG_LEVELS, default=1)
    restore_swapped_only = Boolean(default=True, label_on="yes", label_off="no", added_later=True,
                                   tooltip="Restore only the swapped faces, not every face in the image.")
    OUTPUTS = (Output("OPTIONS", "OPTIONS"),)

    def execute(self, ctx, **inputs: Any) -> tuple:
        _choices(inputs)  # bad index text is reported here, where it was typed
        return (dict(inputs),)


@register_node("ReActorFaceBoost", category=CATEGORY, display_name="ReActor 🌌 Face Booster")
class ReActorFaceBoost(Node):
    """Restores the swapped faces right after the swap (ONNX restorers)."""

    enabled = Boolean(default=True, label_on="ON", label_off="OFF")
    boost_model = ModelFileCombo(choices=_restorers)
    interpolation = Combo(choices=INTERPOLATIONS, default="Bicubic")
    visibility = Float(default=1, min=0.1, max=1, step=0.05)
    codeformer_weight = Float(default=0.5, min=0.0, max=1, step=0.05)
    restore_with_main_after = Boolean(default=False)
    OUTPUTS = (Output("FACE_BOOST", "FACE_BOOST"),)

    def execute(self, ctx, **inputs: Any) -> tuple:
        return (dict(inputs),)


@register_node("ReActorRestoreFace", category=CATEGORY, display_name="Restore Face 🌌 ReActor")
class ReActorRestoreFace(FaceModelsNode):
    """Restores every face in the image with an ONNX face restorer (GPEN-BFR, CodeFormer or
    GFPGAN exported to ONNX) from models/facerestore_models."""

    image = Socket("IMAGE")
    facedetection = Combo(choices=FACE_DETECTORS, tooltip="Kept for ReActor workflows; faces are found by the face mesh.")
    model = ModelFileCombo(choices=_restorers)
    visibility = Float(default=1, min=0.0, max=1, step=0.05)
    codeformer_weight = Float(default=0.5, min=0.0, max=1, step=0.05)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, facedetection: str, model: str, visibility: float,
                codeformer_weight: float) -> NodeOutput:
        from .face_swapping import restore_batch

        restored, notes = restore_batch(ctx, image, lambda picture: None, model, visibility, codeformer_weight)
        return NodeOutput((restored,), {"text": notes})


class NoFaceError(ValueError):
    """The picture has no face (or not as many as the index asks for)."""


def face_from_image(ctx: Any, image: torch.Tensor, index: int) -> Any:
    """Face `index` (largest first) of the image's first picture, with its crop (and
    identity when the buffalo_l recogniser is there)."""
    from faceswap.swapper import faces_with_pictures, identify

    picture = pictures_of(image[:1])[0]
    faces = faces_with_pictures(picture, "large-small")
    if index >= len(faces):
        raise NoFaceError(f"face {index} asked for, but {len(faces)} face(s) found in the image")
    identify(ctx.folders, picture, [faces[index]], required=False)
    return faces[index]


def save_face(ctx: Any, face: Any, name: str) -> str:
    """Save into models/reactor/faces under a new name (never over a file); says which."""
    from pathlib import PurePosixPath, PureWindowsPath

    from faceswap.face_models import save_face_model

    name = name.strip() or "default"
    if PurePosixPath(name).name != name or PureWindowsPath(name).name != name or name.startswith("."):
        raise ValueError(f"face_model_name {name!r} must be a plain file name, without folders")
    path = save_face_model(face, ctx.folders.model_dirs("reactor_faces")[0], name)
    return f"face model saved as {path.name}"


@register_node("ReActorSaveFaceModel", category=CATEGORY, display_name="Save Face Model 🌌 ReActor",
               output_node=True)
class ReActorSaveFaceModel(FaceModelsNode):
    """Saves a source face to models/reactor/faces/<name>.safetensors (ReActor's layout plus
    the face's crop for the built-in swap); an existing file is never overwritten: the new
    one gets a number."""

    save_mode = Boolean(default=True, label_on="ON", label_off="OFF")
    face_model_name = String(default="default")
    select_face_index = Int(default=0, min=0, tooltip="Which face of the image, largest first.")
    image = Socket("IMAGE", optional=True)
    face_model = Socket("FACE_MODEL", optional=True)
    OUTPUTS = ()

    def execute(self, ctx, save_mode: bool, face_model_name: str, select_face_index: int,
                image: Optional[torch.Tensor] = None, face_model: Any = None) -> NodeOutput:
        if image is None and face_model is None:
            raise ValueError("connect an image (a face is taken from it) or a face_model to save")
        if not save_mode:
            return NodeOutput((), {"text": ["saving is off; nothing was saved"]})
        face = face_from_image(ctx, image, select_face_index) if image is not None else face_model
        return NodeOutput((), {"text": [save_face(ctx, face, face_model_name)]})


@register_node("ReActorLoadFaceModel", category=CATEGORY, display_name="Load Face Model 🌌 ReActor")
class ReActorLoadFaceModel(Node):
    """A saved source face from models/reactor/faces (this app's or ReActor's files)."""

    face_model = Combo(choices=_face_models)
    OUTPUTS = (Output("FACE_MODEL", "FACE_MODEL"), Output("STRING", "FACE_MODEL_NAME"))

    def execute(self, ctx, face_model: str) -> tuple:
        from faceswap.face_models import load_face_model

        name = face_model[: -len(".safetensors")] if face_model.endswith(".safetensors") else face_model
        if face_model == "none":
            return (None, name)
        return (load_face_model(ctx.folders.model_path("reactor_faces", face_model)), name)

    @classmethod
    def fingerprint(cls, folders: Any, face_model: str = "none", **_: Any) -> Any:
        try:
            path = folders.model_path("reactor_faces", face_model)
        except (FileNotFoundError, ValueError):
            return None
        return [str(path), path.stat().st_mtime_ns, path.stat().st_size]
