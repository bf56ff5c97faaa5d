"""Detector and region (SEGS) nodes, with the Impact Pack's names and inputs where it has them.

A detector provider makes a BBOX_DETECTOR / SEGM_DETECTOR; a detector node turns an image
into SEGS; SEGS are filtered, turned into masks and back, and previewed drawn on the image.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from detection.region_filters import ORDER_TARGETS, RANGE_TARGETS

from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket, String

CATEGORY = "detailer"
YOLO_KINDS = (("bbox", "ultralytics_bbox"), ("segm", "ultralytics_segm"))
YOLO_EXTENSIONS = (".pt", ".pth", ".onnx")


def _builtin_names(_: Any = None) -> list[str]:
    from detection.builtin import BUILTIN_DETECTORS

    return list(BUILTIN_DETECTORS)


def _yolo_names(folders: Any = None) -> list[str]:
    if folders is None:
        return []
    return [f"{prefix}/{name}" for prefix, kind in YOLO_KINDS
            for name in folders.list_models(kind, YOLO_EXTENSIONS)]


def single_image(image: torch.Tensor, node: str) -> torch.Tensor:
    if image.shape[0] != 1:
        raise ValueError(f"{node} takes one image, got a batch of {image.shape[0]}; FaceDetailer details "
                         f"batches, or pick one image with ImageFromBatch")
    return image


def mask_2d(mask: torch.Tensor) -> np.ndarray:
    """A MASK ([H,W], [1,H,W] or [B,H,W]: the first) as an H x W float32 array."""
    from diffusion.masks import as_mask_batch

    return as_mask_batch(mask.detach().cpu())[0, 0].numpy()


@register_node("DetectorProvider", category=CATEGORY, display_name="Detector Provider (built-in models)")
class DetectorProvider(Node):
    """Face, hand and person detectors that work offline out of the box (mediapipe's bundled
    models, OpenCV's Haar cascade, scikit-image's LBP cascade). The face-mesh and person
    detectors also give masks: face outlines, the body (SEGM_DETECTOR)."""

    model_name = Combo(choices=_builtin_names, tooltip="Which detector.")
    OUTPUTS = (Output("BBOX_DETECTOR", "BBOX_DETECTOR"), Output("SEGM_DETECTOR", "SEGM_DETECTOR"))

    def execute(self, ctx, model_name: str) -> tuple:
        from detection.builtin import BUILTIN_DETECTORS, builtin_detector
        from detection.region_detector import detector_outputs

        return detector_outputs(builtin_detector(model_name), model_name, BUILTIN_DETECTORS[model_name][0] == "segm")


@register_node("UltralyticsDetectorProvider", category=CATEGORY, display_name="Ultralytics Detector Provider")
class UltralyticsDetectorProvider(Node):
    """A YOLO detector from models/ultralytics/bbox or segm: Ultralytics `.pt` files (read
    without running their pickled code) or YOLO models exported to ONNX."""

    model_name = Combo(choices=_yolo_names, tooltip="bbox/... finds boxes; segm/... also masks.")
    OUTPUTS = (Output("BBOX_DETECTOR", "BBOX_DETECTOR"), Output("SEGM_DETECTOR", "SEGM_DETECTOR"))

    def execute(self, ctx, model_name: str) -> tuple:
        from detection.region_detector import detector_outputs
        from detection.yolo import load_yolo

        prefix, _, name = model_name.partition("/")
        kinds = dict(YOLO_KINDS)
        if prefix not in kinds or not name:
            raise ValueError(f"model name {model_name!r} must start with bbox/ or segm/")
        detector = load_yolo(ctx.folders.model_path(kinds[prefix], name))
        return detector_outputs(detector, model_name, prefix == "segm" and detector.segment)

    @classmethod
    def fingerprint(cls, folders: Any, model_name: str = "", **_: Any) -> Any:
        prefix, _, name = str(model_name).partition("/")
        try:
            path = folders.model_path(dict(YOLO_KINDS)[prefix], name)
        except (KeyError, FileNotFoundError, ValueError, AttributeError):
            return None
        return [str(path), path.stat().st_mtime_ns, path.stat().st_size]


class _DetectSEGS(Node):
    """Shared body of the two detector nodes."""

    image = Socket("IMAGE")
    threshold = Float(default=0.5, min=0.0, max=1.0, step=0.01, tooltip="Least confidence kept.")
    dilation = Int(default=10, min=-512, max=512, step=1, tooltip="Grow (or shrink) each mask by pixels.")
    crop_factor = Float(default=3.0, min=1.0, max=100, step=0.1,
                        tooltip="The crop region is the object's box times this: context for re-drawing.")
    drop_size = Int(default=10, min=1, max=MAX_RESOLUTION, step=1,
                    tooltip="Objects narrower or lower than this many pixels are left out.")
    labels = String(default="all", multiline=True, tooltip="Labels to keep, separated by commas; all: every one.")
    detailer_hook = Socket("DETAILER_HOOK", optional=True)
    OUTPUTS = (Output("SEGS", "SEGS"),)

    def execute(self, ctx, image: torch.Tensor, threshold: float, dilation: int, crop_factor: float,
                drop_size: int, labels: str = "all", detailer_hook: Any = None, **detector: Any) -> NodeOutput:
        from detection.region_filters import by_label

        (found_by,) = detector.values()  # bbox_detector or segm_detector (ours or an Impact Pack one)
        segs = found_by.detect(single_image(image, self.NODE_ID), threshold, dilation, crop_factor, drop_size, None)
        segs = by_label(segs, labels)[0]
        name = getattr(found_by, "name", type(found_by).__name__)
        return NodeOutput((segs,), {"text": [f"{len(segs[1])} region(s) found by {name}"]})


@register_node("BboxDetectorSEGS", category=CATEGORY, display_name="BBOX Detector (SEGS)")
class BboxDetectorSEGS(_DetectSEGS):
    """Finds objects with a box detector; each region's mask is its (dilated) box."""

    bbox_detector = Socket("BBOX_DETECTOR")


@register_node("SegmDetectorSEGS", category=CATEGORY, display_name="SEGM Detector (SEGS)")
class SegmDetectorSEGS(_DetectSEGS):
    """Finds objects with a segmenting detector; each region's mask is the object's outline."""

    segm_detector = Socket("SEGM_DETECTOR")


@register_node("MaskToSEGS", category=CATEGORY, display_name="MASK to SEGS")
class MaskToSEGS(Node):
    """Splits a mask into regions, one per connected part (or one for all: combined)."""

    mask = Socket("MASK")
    combined = Boolean(default=False, label_on="True", label_off="False")
    crop_factor = Float(default=3.0, min=1.0, max=100, step=0.1)
    bbox_fill = Boolean(default=False, label_on="enabled", label_off="disabled",
                        tooltip="Each region's mask becomes its whole box.")
    drop_size = Int(default=10, min=1, max=MAX_RESOLUTION, step=1)
    contour_fill = Boolean(default=False, label_on="enabled", label_off="disabled",
                           tooltip="Fill holes inside each part.")
    OUTPUTS = (Output("SEGS", "SEGS"),)

    def execute(self, ctx, mask: torch.Tensor, combined: bool, crop_factor: float, bbox_fill: bool, drop_size: int,
                contour_fill: bool = False) -> NodeOutput:
        from detection.regions import mask_to_regions

        segs = mask_to_regions(mask_2d(mask), combined, crop_factor, bbox_fill, drop_size, contour_fill)
        return NodeOutput((segs,), {"text": [f"{len(segs[1])} region(s) in the mask"]})


@register_node("SegsToCombinedMask", category=CATEGORY, display_name="SEGS to MASK (combined)")
class SegsToCombinedMask(Node):
    """All regions' masks as one mask over the image."""

    segs = Socket("SEGS")
    OUTPUTS = (Output("MASK", "MASK"),)

    def execute(self, ctx, segs: Any) -> tuple:
        from detection.regions import segs_to_mask

        return (torch.from_numpy(segs_to_mask(segs))[None],)


@register_node("ImpactSEGSToMaskList", category=CATEGORY, display_name="SEGS to Mask List")
class SEGSToMaskList(Node):
    """One mask over the image per region (a list: the nodes after it run once per mask)."""

    segs = Socket("SEGS")
    OUTPUTS = (Output("MASK", "MASK", is_list=True),)

    def execute(self, ctx, segs: Any) -> tuple:
        from detection.regions import seg_mask_over_picture

        size, items = segs
        masks = [torch.from_numpy(seg_mask_over_picture(seg, size))[None] for seg in items]
        return (masks or [torch.zeros((1, *size))],)


@register_node("SEGSPreview", category=CATEGORY, display_name="SEGS Preview", output_node=True)
class SEGSPreview(Node):
    """Shows the regions drawn on the image: crop regions, boxes, masks, labels, confidence."""

    segs = Socket("SEGS")
    alpha_mode = Boolean(default=True, label_on="enable", label_off="disable", tooltip="Tint the masks.")
    min_alpha = Float(default=0.2, min=0.0, max=1.0, step=0.01)
    fallback_image_opt = Socket("IMAGE", optional=True, tooltip="The image the regions were found on.")
    OUTPUTS = (Output("IMAGE", "IMAGE", is_list=True),)

    def execute(self, ctx, segs: Any, alpha_mode: bool = True, min_alpha: float = 0.2,
                fallback_image_opt: Any = None) -> NodeOutput:
        from .image_nodes import save_images
        from .region_drawing import draw_regions

        drawn = draw_regions(segs, fallback_image_opt, min_alpha if alpha_mode else 0.0)
        records = save_images(drawn, ctx.folders.temp, "segs_preview", ctx.prompt, ctx.extra_pnginfo, compress_level=1)
        return NodeOutput(([drawn],), {"images": records})


class _Filter(Node):
    segs = Socket("SEGS")
    OUTPUTS = (Output("SEGS", "filtered_SEGS"), Output("SEGS", "remained_SEGS"))


@register_node("ImpactSEGSLabelFilter", category=CATEGORY, display_name="SEGS Filter (label)")
class SEGSLabelFilter(_Filter):
    """Keeps the regions whose label is listed (comma separated; all keeps every one)."""

    preset = Combo(choices=["all", "face", "hand", "person", "eyes", "mouth", "A"], default="all")
    labels = String(default="", multiline=True, tooltip="Labels to keep, separated by commas.")

    def execute(self, ctx, segs: Any, preset: str, labels: str = "") -> tuple:
        from detection.region_filters import by_label

        return by_label(segs, labels if labels.strip() else preset)


@register_node("ImpactSEGSRangeFilter", category=CATEGORY, display_name="SEGS Filter (range)")
class SEGSRangeFilter(_Filter):
    """Keeps the regions whose size, position or confidence lies inside (or outside) a range."""

    target = Combo(choices=RANGE_TARGETS)
    mode = Boolean(default=True, label_on="inside", label_off="outside")
    min_value = Int(default=0, min=0, max=sys.maxsize, step=1)
    max_value = Int(default=67108864, min=0, max=sys.maxsize, step=1)

    def execute(self, ctx, segs: Any, target: str, mode: bool, min_value: int, max_value: int) -> tuple:
        from detection.region_filters import by_range

        return by_range(segs, target, mode, min_value, max_value)


@register_node("ImpactSEGSOrderedFilter", category=CATEGORY, display_name="SEGS Filter (ordered)")
class SEGSOrderedFilter(_Filter):
    """Keeps `take_count` regions from `take_start` on, ordered by size, position or confidence."""

    target = Combo(choices=ORDER_TARGETS)
    order = Boolean(default=True, label_on="descending", label_off="ascending")
    take_start = Int(default=0, min=0, max=sys.maxsize, step=1)
    take_count = Int(default=1, min=0, max=sys.maxsize, step=1)

    def execute(self, ctx, segs: Any, target: str, order: bool, take_start: int, take_count: int) -> tuple:
        from detection.region_filters import by_order

        return by_order(segs, target, order, take_start, take_count)
