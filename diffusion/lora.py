"""LoRA files -> weight patches for a MODEL and a CLIP value.

Understood key layouts (after an optional PEFT `base_model.model.` prefix):

* kohya / A1111: `lora_unet_<module with _ for .>` in diffusers or original (LDM) naming,
  `lora_te_` (SD1/SD2), `lora_te1_` / `lora_te2_` (SDXL's CLIP-L / OpenCLIP-G), with
  `.lora_down.weight`, `.lora_up.weight` and `.alpha`;
* diffusers: `unet.<module>`, `text_encoder.<module>`, `text_encoder_2.<module>` with
  `.lora.down/.lora.up` (older `.processor.to_q_lora.down`) or PEFT's `.lora_A/.lora_B`;
* ComfyUI's own: `diffusion_model.<LDM module>`, `text_encoders.clip_<l|g|h>.transformer.<module>`.

The delta of a module is `up @ down * alpha / rank` (alpha missing: scale 1); `.diff` and
`.diff_b` entries (ComfyUI's extracted LoRAs) are full differences of a weight and its bias.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Optional

import torch

from .export import unet_ldm_names
from .key_patches import transformer_name
from .patching import DiffPatch, WeightPatch, check_targets

if TYPE_CHECKING:  # pragma: no cover
    from .model import DiffusionModel
    from .text_encoder import TextEncoder

log = logging.getLogger(__name__)

_PARTS = (
    (".lora_down.weight", "down"), (".lora_up.weight", "up"),
    (".lora_A.weight", "down"), (".lora_B.weight", "up"),
    (".lora.down.weight", "down"), (".lora.up.weight", "up"),
    ("_lora.down.weight", "down"), ("_lora.up.weight", "up"),
    (".lora_linear_layer.down.weight", "down"), (".lora_linear_layer.up.weight", "up"),
    (".alpha", "alpha"), (".diff", "diff"), (".diff_b", "diff_b"),
)
_PEFT_PREFIX = "base_model.model."
_OLD_PROCESSOR = re.compile(r"\.processor\.(to_q|to_k|to_v|to_out)$")


@dataclass
class LoraTargets:
    """What a LoRA file's module names may point at: name -> (component, parameter)."""

    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    biases: set[tuple[str, str]] = field(default_factory=set)  # (component, parameter) of every bias

    def add(self, component: str, param: str, *aliases: str) -> None:
        for alias in aliases:
            self.names.setdefault(alias, (component, param))


def _module_of(param: str) -> Optional[str]:
    return param[: -len(".weight")] if param.endswith(".weight") else None


def unet_targets(model: "DiffusionModel", targets: LoraTargets) -> None:
    """Every UNet weight under its diffusers and its original-layout names."""
    ldm = unet_ldm_names(model.unet)
    for param in model.unet.state_dict():
        if param.endswith(".bias"):
            targets.biases.add(("unet", param))
        module = _module_of(param)
        if module is None:
            continue
        names = ["lora_unet_" + module.replace(".", "_"), "unet." + module, module]
        ldm_key = ldm.get(param)
        if ldm_key is not None:
            ldm_module = _module_of(ldm_key[len("model.diffusion_model."):])
            names += ["lora_unet_" + ldm_module.replace(".", "_"), "diffusion_model." + ldm_module]
        targets.add("unet", param, *names)


def clip_targets(clip: "TextEncoder", targets: LoraTargets) -> None:
    """Every text-encoder weight under kohya's and diffusers' names (SDXL: te1 = L, te2 = G)."""
    two = len(clip.encoders) > 1
    for index, spec in enumerate(clip.encoders):
        kohya = f"lora_te{index + 1}_" if two else "lora_te_"
        folder = "text_encoder_2." if index == 1 else "text_encoder."
        for param in spec.model.state_dict():
            if param.endswith(".bias"):
                targets.biases.add((spec.name, param))
            module = _module_of(param)
            if module is None:
                continue
            hf = module if module.startswith("text_model.") else "text_model." + module
            bare = hf[len("text_model."):]
            comfy = f"text_encoders.clip_{spec.name}.transformer.{_module_of(transformer_name(param))}"
            targets.add(spec.name, param, kohya + hf.replace(".", "_"), folder + hf, folder + bare, comfy)


def group_lora(sd: Mapping[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """The file's entries grouped by module name: {module: {"up","down","alpha"}}; plus keys
    that are not LoRA parts at all."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    other: list[str] = []
    for key, value in sd.items():
        for suffix, part in _PARTS:
            if key.endswith(suffix):
                base = key[: -len(suffix)]
                if base.startswith(_PEFT_PREFIX):
                    base = base[len(_PEFT_PREFIX):]
                match = _OLD_PROCESSOR.search(base)
                if match:
                    name = match.group(1)
                    base = base[: match.start()] + "." + ("to_out.0" if name == "to_out" else name)
                groups.setdefault(base, {})[part] = value
                break
        else:
            other.append(key)
    return groups, other


@dataclass
class LoraPatches:
    """A LoRA file resolved against one model and text encoder."""

    model: list[WeightPatch]
    clip: list[WeightPatch]
    unmatched: list[str]


def resolve_lora(
    sd: Mapping[str, torch.Tensor],
    model: Optional["DiffusionModel"],
    clip: Optional["TextEncoder"],
    strength_model: float,
    strength_clip: float,
) -> LoraPatches:
    """Patches for every module of the file found in `model` / `clip` (either may be None).

    Modules of a part that was not given (or whose strength is 0) are skipped silently;
    modules that fit nothing are listed in `unmatched` (ComfyUI logs them too)."""
    targets = LoraTargets()
    if model is not None:
        unet_targets(model, targets)
    if clip is not None:
        clip_targets(clip, targets)
    groups, other = group_lora(sd)
    out = LoraPatches([], [], list(other))
    for base, parts in groups.items():
        is_lora = "up" in parts and "down" in parts
        if not (is_lora or "diff" in parts or "diff_b" in parts):
            out.unmatched.append(base)
            continue
        found = targets.names.get(base)
        if found is None:
            is_text = base.startswith(("lora_te", "text_encoder"))
            if not ((is_text and clip is None) or (not is_text and model is None)):
                out.unmatched.append(base)
            continue
        component, param = found
        strength = strength_model if component == "unet" else strength_clip
        if strength == 0.0:
            continue
        made = out.model if component == "unet" else out.clip
        if is_lora:
            rank = parts["down"].shape[0]
            alpha = parts.get("alpha")
            scale = float(alpha) / rank if alpha is not None else 1.0
            made.append(WeightPatch(component, param, parts["up"], parts["down"], scale, float(strength)))
        if "diff" in parts:
            made.append(DiffPatch(component, param, parts["diff"], float(strength)))
        bias = param[: -len(".weight")] + ".bias"
        if "diff_b" in parts and (component, bias) in targets.biases:
            made.append(DiffPatch(component, bias, parts["diff_b"], float(strength)))
    if model is not None:
        check_targets(model.unet, out.model)
    if clip is not None:
        for spec in clip.encoders:
            check_targets(spec.model, [p for p in out.clip if p.component == spec.name])
    if out.unmatched:
        log.warning("LoRA: %d entries fit no weight, e.g. %s", len(out.unmatched), out.unmatched[:3])
    return out

