"""ControlNet nodes: load one, and attach it with a hint image to conditionings."""
from __future__ import annotations

from typing import Any

import torch

from .loaders import _file_fingerprint, _models
from .registry import Node, register_node
from .spec import Combo, Float, Output, Socket


@register_node("ControlNetLoader", category="loaders", display_name="Load ControlNet Model")
class ControlNetLoader(Node):
    """Loads a ControlNet (original single-file or diffusers layout) from models/controlnet."""

    control_net_name = Combo(choices=_models("controlnet"))
    OUTPUTS = (Output("CONTROL_NET", "CONTROL_NET"),)

    def execute(self, ctx, control_net_name: str, model=None) -> tuple:
        """`model`: the base a difference ControlNet is added to (DiffControlNetLoader)."""
        from diffusion.controlnet import load_controlnet
        from diffusion.device import default_device, default_dtype

        device = default_device()
        path = ctx.folders.model_path("controlnet", control_net_name)
        return (load_controlnet(path, device, default_dtype(device), base=model),)

    @classmethod
    def fingerprint(cls, folders: Any, control_net_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "controlnet", control_net_name)


def attach(conditionings: list[list], control_net, image: torch.Tensor, strength: float,
           start_percent: float, end_percent: float) -> list[list]:
    """Each conditioning with the ControlNet chained after the one it already has; entries
    that had the same previous chain share one new link (so they can share UNet calls)."""
    from diffusion.controlnet import ControlHint

    links: dict[int, ControlHint] = {}
    out = []
    for conditioning in conditionings:
        entries = []
        for emb, extras in conditioning:
            extras = dict(extras or {})
            previous = extras.get("control")
            key = id(previous)
            if key not in links:
                links[key] = ControlHint(control_net, image, strength, start_percent, end_percent, previous)
            extras["control"] = links[key]
            entries.append([emb, extras])
        out.append(entries)
    return out


@register_node("ControlNetApply", category="conditioning/controlnet", display_name="Apply ControlNet (OLD)")
class ControlNetApply(Node):
    """Guides sampling with a ControlNet and a hint image (edges, depth, pose ...)."""

    conditioning = Socket("CONDITIONING")
    control_net = Socket("CONTROL_NET")
    image = Socket("IMAGE")
    strength = Float(default=1.0, min=0.0, max=10.0, step=0.01)
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, conditioning: list, control_net, image: torch.Tensor, strength: float) -> tuple:
        if strength == 0:
            return (conditioning,)
        return (attach([conditioning], control_net, image, strength, 0.0, 1.0)[0],)


@register_node("ControlNetApplyAdvanced", category="conditioning/controlnet", display_name="Apply ControlNet")
class ControlNetApplyAdvanced(Node):
    """Guides sampling with a ControlNet on both conditionings, for part of the steps;
    several chain and their effects add up."""

    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    control_net = Socket("CONTROL_NET")
    image = Socket("IMAGE")
    strength = Float(default=1.0, min=0.0, max=10.0, step=0.01)
    start_percent = Float(default=0.0, min=0.0, max=1.0, step=0.001)
    end_percent = Float(default=1.0, min=0.0, max=1.0, step=0.001)
    vae = Socket("VAE", optional=True, tooltip="Only for ControlNets that take latent hints; unused here.")
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"))

    def execute(self, ctx, positive: list, negative: list, control_net, image: torch.Tensor, strength: float,
                start_percent: float, end_percent: float, vae=None) -> tuple:
        if strength == 0:
            return (positive, negative)
        pos, neg = attach([positive, negative], control_net, image, strength, start_percent, end_percent)
        return (pos, neg)


@register_node("DiffControlNetLoader", category="loaders", display_name="Load ControlNet Model (diff)")
class DiffControlNetLoader(Node):
    """Loads a ControlNet from models/controlnet; a "difference" ControlNet (one that stores
    only what it changed in a base model) is added to this model's weights."""

    model = Socket("MODEL")
    control_net_name = Combo(choices=_models("controlnet"))
    OUTPUTS = (Output("CONTROL_NET", "CONTROL_NET"),)
    fingerprint = ControlNetLoader.fingerprint

    def execute(self, ctx, model, control_net_name: str) -> tuple:
        return ControlNetLoader().execute(ctx, control_net_name, model=model)


UNION_TYPES = ["auto", "openpose", "depth", "hed/pidi/scribble/ted", "canny/lineart/anime_lineart/mlsd", "normal",
               "segment", "tile", "repaint"]


@register_node("SetUnionControlNetType", category="conditioning/controlnet")
class SetUnionControlNetType(Node):
    """Tells a union ControlNet (one model for many hint kinds) which kind of hint it gets;
    "auto" lets it decide. Other ControlNets ignore it."""

    control_net = Socket("CONTROL_NET")
    type = Combo(choices=UNION_TYPES)
    OUTPUTS = (Output("CONTROL_NET", "CONTROL_NET"),)

    def execute(self, ctx, control_net, type: str) -> tuple:
        index = UNION_TYPES.index(type) - 1
        return (control_net.with_extra_args(control_type=[] if index < 0 else [index]),)


@register_node("ControlNetInpaintingAliMamaApply", category="conditioning/controlnet")
class ControlNetInpaintingAliMamaApply(Node):
    """Apply ControlNet with an inpainting mask: a ControlNet made for masked hints gets the
    image with the masked area blanked and the mask; others get the image as it is."""

    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    control_net = Socket("CONTROL_NET")
    vae = Socket("VAE")
    image = Socket("IMAGE")
    mask = Socket("MASK")
    strength = Float(default=1.0, min=0.0, max=10.0, step=0.01)
    start_percent = Float(default=0.0, min=0.0, max=1.0, step=0.001)
    end_percent = Float(default=1.0, min=0.0, max=1.0, step=0.001)
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"))

    def execute(self, ctx, positive: list, negative: list, control_net, vae, image: torch.Tensor,
                mask: torch.Tensor, strength: float, start_percent: float, end_percent: float) -> tuple:
        if strength == 0:
            return (positive, negative)
        if getattr(control_net, "concat_mask", False):
            import torch.nn.functional as F

            keep = 1.0 - mask.reshape(-1, 1, *mask.shape[-2:]).float()
            keep = F.interpolate(keep, size=tuple(image.shape[1:3]), mode="bilinear").round()
            image = image * keep.movedim(1, -1)
        pos, neg = attach([positive, negative], control_net, image, strength, start_percent, end_percent)
        return (pos, neg)
