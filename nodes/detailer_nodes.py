"""The detailer nodes: FaceDetailer (detect and re-draw in one node) and DetailerForEach
(re-draw given SEGS), with the Impact Pack's names, inputs and outputs, so its workflows
run here unchanged."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from .conditioning import CLIPTextEncode
from .detailing import DetailSettings, RegionResult, detail_picture, resolve_choices
from .latent import MAX_RESOLUTION
from .region_nodes import single_image
from .registry import Node, register_node
from .sampling import SEED_MAX, _sampler_names, _scheduler_names
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket, String

CATEGORY = "detailer"
SAM_HINTS = ["center-1", "horizontal-2", "vertical-2", "rect-4", "diamond-4", "mask-area", "mask-points",
             "mask-point-bbox", "none"]


def _placeholder() -> torch.Tensor:
    """What the list outputs carry when nothing was re-drawn (downstream nodes still run)."""
    return torch.zeros((1, 64, 64, 3))


class _DetailerInputs(Node):
    """The sampling inputs both detailers share, in the Impact Pack's order."""

    image = Socket("IMAGE", tooltip="The image(s) to fix.")
    model = Socket("MODEL")
    clip = Socket("CLIP", tooltip="Encodes the wildcard prompt, when one is given.")
    vae = Socket("VAE")
    guide_size = Float(default=512, min=64, max=MAX_RESOLUTION, step=8,
                       tooltip="The size the object (or crop region) is scaled to before re-drawing.")
    guide_size_for = Boolean(default=True, label_on="bbox", label_off="crop_region",
                             tooltip="Whether guide_size is for the object's box or the whole crop region.")
    max_size = Float(default=1024, min=64, max=MAX_RESOLUTION, step=8,
                     tooltip="The largest side of the scaled crop region.")
    seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True)
    steps = Int(default=20, min=1, max=10000)
    cfg = Float(default=8.0, min=0.0, max=100.0)
    sampler_name = Combo(choices=_sampler_names)
    scheduler = Combo(choices=_scheduler_names)
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    denoise = Float(default=0.5, min=0.0001, max=1.0, step=0.01, tooltip="How much of each region is re-drawn.")
    feather = Int(default=5, min=0, max=100, step=1, tooltip="Soft edge, in pixels, where the fix is blended in.")
    noise_mask = Boolean(default=True, label_on="enabled", label_off="disabled",
                         tooltip="Re-draw only the mask inside the crop region, not the whole crop.")
    force_inpaint = Boolean(default=True, label_on="enabled", label_off="disabled",
                            tooltip="Re-draw regions that are already at least guide_size too.")


def settings_from(inputs: dict) -> DetailSettings:
    return DetailSettings(
        guide_size=inputs["guide_size"], guide_size_for_bbox=inputs["guide_size_for"], max_size=inputs["max_size"],
        seed=inputs["seed"], steps=inputs["steps"], cfg=inputs["cfg"], sampler_name=inputs["sampler_name"],
        scheduler=inputs["scheduler"], denoise=inputs["denoise"], feather=inputs["feather"],
        noise_mask=inputs["noise_mask"], force_inpaint=inputs["force_inpaint"], cycle=inputs.get("cycle", 1),
        noise_mask_feather=inputs.get("noise_mask_feather", 0))


def _prompt_for(ctx: Any, clip: Any, wildcard: str, positive: Any, seed: int) -> Any:
    """The wildcard text (with {a|b} choices made from the seed) replaces the positive prompt."""
    text = resolve_choices(wildcard or "", seed).strip()
    if not text:
        return positive
    return CLIPTextEncode().execute(ctx, text, clip)[0]


def _with_alpha(result: RegionResult) -> torch.Tensor:
    return torch.cat([result.refined, result.paste_mask[None, :, :, None]], dim=-1)


def _describe(index: int, results: list[RegionResult], what: str) -> str:
    if not results:
        return f"image {index + 1}: no {what} detected; passed through unchanged"
    done = [r for r in results if r.refined is not None]
    lines = [f"image {index + 1}: {len(done)} of {len(results)} region(s) re-drawn"]
    lines += [f"  {r.seg.label} {float(r.seg.confidence):.2f} at {tuple(int(v) for v in r.seg.bbox)}: {r.note}"
              for r in results]
    return "\n".join(lines)


def run_detailer(ctx: Any, image: torch.Tensor, segs_per_image: list, model: Any, clip: Any, vae: Any, positive: Any,
                 negative: Any, wildcard: str, settings: DetailSettings, what: str = "region") -> dict:
    """Detail every image of a batch with its own regions; the pieces the outputs need."""
    from detection.regions import segs_to_mask

    prompt = _prompt_for(ctx, clip, wildcard, positive, settings.seed)
    pictures, refined, with_alpha, masks, notes = [], [], [], [], []
    for index, segs in enumerate(segs_per_image):
        picture = image[index:index + 1]
        picture, results = detail_picture(ctx, picture, segs[1], model, vae, prompt, negative, settings)
        pictures.append(picture)
        done = [r for r in results if r.refined is not None]
        refined += [r.refined for r in done]
        with_alpha += [_with_alpha(r) for r in done]
        masks.append(torch.from_numpy(segs_to_mask((segs[0], [r.seg for r in done]))))
        notes.append(_describe(index, results, what))
    return {"image": torch.cat(pictures, dim=0), "refined": refined or [_placeholder()],
            "alpha": with_alpha or [_placeholder()], "mask": torch.stack(masks, dim=0), "notes": notes}


def _unused_notes(inputs: dict) -> list[str]:
    """What the Impact Pack's detailers accept but this app does not apply, said when given."""
    unused = {"sam_model_opt": "SAM refinement is not available here: the detector's own masks were used",
              "detailer_hook": "detailer hooks are not applied here",
              "scheduler_func_opt": "custom scheduler functions are not applied here: the scheduler input was used"}
    return [note for name, note in unused.items() if inputs.get(name) is not None]


def _and_mask(segs: tuple, mask: np.ndarray) -> tuple:
    """Each region's mask cut to where `mask` (over the whole image) is set; emptied regions go."""
    from detection.regions import SEG

    kept = []
    for seg in segs[1]:
        x1, y1, x2, y2 = seg.crop_region
        cut = np.asarray(seg.cropped_mask, np.float32) * (mask[y1:y2, x1:x2] > 0)
        if cut.any():
            kept.append(SEG(seg.cropped_image, cut, seg.confidence, seg.crop_region, seg.bbox, seg.label,
                            seg.control_net_wrapper))
    return segs[0], kept


@register_node("FaceDetailer", category=CATEGORY, display_name="FaceDetailer")
class FaceDetailer(_DetailerInputs):
    """Finds faces (or hands, people: whatever the detector finds) and re-draws each at a
    higher resolution with its own denoise, then blends it back: small faces come out
    whole. With no detection the image passes through unchanged."""

    bbox_threshold = Float(default=0.5, min=0.0, max=1.0, step=0.01)
    bbox_dilation = Int(default=10, min=-512, max=512, step=1)
    bbox_crop_factor = Float(default=3.0, min=1.0, max=10, step=0.1)
    sam_detection_hint = Combo(choices=SAM_HINTS, default="center-1")
    sam_dilation = Int(default=0, min=-512, max=512, step=1)
    sam_threshold = Float(default=0.93, min=0.0, max=1.0, step=0.01)
    sam_bbox_expansion = Int(default=0, min=0, max=1000, step=1)
    sam_mask_hint_threshold = Float(default=0.7, min=0.0, max=1.0, step=0.01)
    sam_mask_hint_use_negative = Combo(choices=["False", "Small", "Outter"], default="False")
    drop_size = Int(default=10, min=1, max=MAX_RESOLUTION, step=1)
    bbox_detector = Socket("BBOX_DETECTOR")
    wildcard = String(multiline=True, tooltip="A prompt for the regions instead of the positive one; {a|b} picks.")
    cycle = Int(default=1, min=1, max=10, step=1, tooltip="How many times each region is re-drawn.")
    sam_model_opt = Socket("SAM_MODEL", optional=True)
    segm_detector_opt = Socket("SEGM_DETECTOR", optional=True,
                               tooltip="Cuts each box down to the object's outline from this detector.")
    detailer_hook = Socket("DETAILER_HOOK", optional=True)
    inpaint_model = Boolean(default=False, label_on="enabled", label_off="disabled", optional=True)
    noise_mask_feather = Int(default=20, min=0, max=100, step=1, optional=True)
    scheduler_func_opt = Socket("SCHEDULER_FUNC", optional=True)
    OUTPUTS = (Output("IMAGE", "image"), Output("IMAGE", "cropped_refined", is_list=True),
               Output("IMAGE", "cropped_enhanced_alpha", is_list=True), Output("MASK", "mask"),
               Output("DETAILER_PIPE", "detailer_pipe"), Output("IMAGE", "cnet_images", is_list=True))

    def execute(self, ctx, **inputs: Any) -> NodeOutput:
        image, detector = inputs["image"], inputs["bbox_detector"]
        segm: Optional[Any] = inputs.get("segm_detector_opt")
        segs_per_image = []
        for index in range(image.shape[0]):
            single = image[index:index + 1]
            segs = detector.detect(single, inputs["bbox_threshold"], inputs["bbox_dilation"],
                                   inputs["bbox_crop_factor"], inputs["drop_size"])
            if segm is not None:
                outline = segm.detect_combined(single, inputs["bbox_threshold"], inputs["bbox_dilation"])
                segs = _and_mask(segs, np.asarray(outline, np.float32))
            segs_per_image.append(segs)
        what = "/".join(getattr(detector, "labels", []) or ["object"])
        out = run_detailer(ctx, image, segs_per_image, inputs["model"], inputs["clip"], inputs["vae"],
                           inputs["positive"], inputs["negative"], inputs.get("wildcard", ""),
                           settings_from(inputs), what)
        notes = out["notes"] + _unused_notes(inputs)
        pipe = (inputs["model"], inputs["clip"], inputs["vae"], inputs["positive"], inputs["negative"],
                inputs.get("wildcard", ""), detector, segm, inputs.get("sam_model_opt"), inputs.get("detailer_hook"),
                None, None, None, None)
        return NodeOutput((out["image"], out["refined"], out["alpha"], out["mask"], pipe, [_placeholder()]),
                          {"text": notes})


@register_node("DetailerForEach", category=CATEGORY, display_name="Detailer (SEGS)")
class DetailerForEach(_DetailerInputs):
    """Re-draws each region of the SEGS at a higher resolution and blends it back."""

    segs = Socket("SEGS", tooltip="The regions to re-draw (from a detector or MASK to SEGS).")
    wildcard = String(multiline=True, tooltip="A prompt for the regions instead of the positive one; {a|b} picks.")
    cycle = Int(default=1, min=1, max=10, step=1)
    detailer_hook = Socket("DETAILER_HOOK", optional=True)
    inpaint_model = Boolean(default=False, label_on="enabled", label_off="disabled", optional=True)
    noise_mask_feather = Int(default=20, min=0, max=100, step=1, optional=True)
    scheduler_func_opt = Socket("SCHEDULER_FUNC", optional=True)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, **inputs: Any) -> NodeOutput:
        image, segs = single_image(inputs["image"], self.NODE_ID), inputs["segs"]
        out = run_detailer(ctx, image, [segs], inputs["model"], inputs["clip"], inputs["vae"], inputs["positive"],
                           inputs["negative"], inputs.get("wildcard", ""), settings_from(inputs))
        return NodeOutput((out["image"],), {"text": out["notes"] + _unused_notes(inputs)})
