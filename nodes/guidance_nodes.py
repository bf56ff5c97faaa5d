"""Model patches that change guidance (ComfyUI's RescaleCFG, CFGZeroStar, CFGNorm, Mahiro,
Epsilon Scaling, APG, TCFG, FreSca), Differential Diffusion's soft inpainting mask and
TorchCompileModel. Each returns a clone of the MODEL with a sampling hook; the maths is in
diffusion/cfg_patches.py."""
from __future__ import annotations

import logging

from .registry import Node, register_node
from .spec import Combo, Float, Int, Output, Socket

log = logging.getLogger(__name__)

MODEL_OUT = (Output("MODEL", "MODEL"),)
PATCHED_OUT = (Output("MODEL", "patched_model"),)
GUIDANCE = "advanced/guidance"


def _post_cfg(model, hook) -> tuple:
    patched = model.clone()
    patched.set_model_sampler_post_cfg_function(hook)
    return (patched,)


def _pre_cfg(model, hook) -> tuple:
    patched = model.clone()
    patched.set_model_sampler_pre_cfg_function(hook)
    return (patched,)


@register_node("RescaleCFG", category="advanced/model")
class RescaleCFG(Node):
    """CFG on v-predictions with the result's spread pulled back to the positive's
    (multiplier 0: plain CFG); keeps high cfg and zero-SNR models from burning."""

    model = Socket("MODEL")
    multiplier = Float(default=0.7, min=0.0, max=1.0, step=0.01)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, multiplier: float) -> tuple:
        from diffusion.cfg_patches import rescale_cfg_hook

        patched = model.clone()
        patched.set_model_sampler_cfg_function(rescale_cfg_hook(multiplier))
        return (patched,)


@register_node("CFGZeroStar", category=GUIDANCE)
class CFGZeroStar(Node):
    """CFG-Zero*: the negative's part of the guided estimate scaled by how well it fits the
    positive (per image)."""

    model = Socket("MODEL")
    OUTPUTS = PATCHED_OUT

    def execute(self, ctx, model) -> tuple:
        from diffusion.cfg_patches import cfg_zero_star_hook

        return _post_cfg(model, cfg_zero_star_hook)


@register_node("CFGNorm", category=GUIDANCE)
class CFGNorm(Node):
    """The guided estimate never longer (per pixel, over channels) than the positive's."""

    model = Socket("MODEL")
    strength = Float(default=1.0, min=0.0, max=100.0, step=0.01)
    OUTPUTS = PATCHED_OUT

    def execute(self, ctx, model, strength: float) -> tuple:
        from diffusion.cfg_patches import cfg_norm_hook

        return _post_cfg(model, cfg_norm_hook(strength))


@register_node("Mahiro", category=GUIDANCE, display_name="Mahiro CFG")
class Mahiro(Node):
    """Leans the guidance towards the positive's own direction where the negative agrees
    with it."""

    model = Socket("MODEL")
    OUTPUTS = PATCHED_OUT

    def execute(self, ctx, model) -> tuple:
        from diffusion.cfg_patches import mahiro_hook

        return _post_cfg(model, mahiro_hook)


@register_node("Epsilon Scaling", category="model_patches/unet")
class EpsilonScaling(Node):
    """The guided noise prediction divided by the factor each step (exposure-bias
    correction; slightly above 1 sharpens)."""

    model = Socket("MODEL")
    scaling_factor = Float(default=1.005, min=0.5, max=1.5, step=0.001)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, scaling_factor: float) -> tuple:
        from diffusion.cfg_patches import epsilon_scaling_hook

        return _post_cfg(model, epsilon_scaling_hook(scaling_factor))


@register_node("APG", category="sampling/custom_sampling", display_name="Adaptive Projected Guidance")
class APG(Node):
    """Guidance split into parts along and across the positive prediction, the along part
    scaled by eta, its length capped, optionally averaged over steps."""

    model = Socket("MODEL")
    eta = Float(default=1.0, min=-10.0, max=10.0, step=0.01,
                tooltip="Scale of the guidance along the positive prediction (1: as plain CFG).")
    norm_threshold = Float(default=5.0, min=0.0, max=50.0, step=0.1,
                           tooltip="Cap on the guidance's length (0: no cap).")
    momentum = Float(default=0.0, min=-5.0, max=1.0, step=0.01,
                     tooltip="Running average of the guidance over the steps (0: none).")
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, eta: float, norm_threshold: float, momentum: float) -> tuple:
        from diffusion.cfg_patches import AdaptiveProjectedGuidance

        return _pre_cfg(model, AdaptiveProjectedGuidance(eta, norm_threshold, momentum))


@register_node("TCFG", category=GUIDANCE, display_name="Tangential Damping CFG")
class TCFG(Node):
    """The negative prediction with its parts tangential to what it shares with the positive
    removed, so guidance pushes less off the data."""

    model = Socket("MODEL")
    OUTPUTS = PATCHED_OUT

    def execute(self, ctx, model) -> tuple:
        from diffusion.cfg_patches import tcfg_hook

        return _pre_cfg(model, tcfg_hook)


@register_node("FreSca", category="_for_testing", display_name="FreSca")
class FreSca(Node):
    """Scales the guidance's low and high spatial frequencies separately."""

    model = Socket("MODEL")
    scale_low = Float(default=1.0, min=0.0, max=10.0, step=0.01, tooltip="Scale of the low frequencies.")
    scale_high = Float(default=1.25, min=0.0, max=10.0, step=0.01, tooltip="Scale of the high frequencies.")
    freq_cutoff = Int(default=20, min=1, max=10000, step=1,
                      tooltip="How many frequency indices around the centre count as low.")
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, scale_low: float, scale_high: float, freq_cutoff: int) -> tuple:
        from diffusion.cfg_patches import fresca_hook

        return _pre_cfg(model, fresca_hook(scale_low, scale_high, freq_cutoff))


@register_node("DifferentialDiffusion", category="_for_testing", display_name="Differential Diffusion")
class DifferentialDiffusion(Node):
    """Soft inpainting: each pixel of the mask is regenerated for as many steps as its value
    says (0.5: the second half), instead of all or nothing."""

    model = Socket("MODEL")
    strength = Float(default=1.0, min=0.0, max=1.0, step=0.01, optional=True)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, strength: float = 1.0) -> tuple:
        from diffusion.cfg_patches import DifferentialMask

        patched = model.clone()
        patched.set_model_denoise_mask_function(DifferentialMask(strength))
        return (patched,)


@register_node("TorchCompileModel", category="_for_testing")
class TorchCompileModel(Node):
    """The UNet run through torch.compile while this model samples; where compiling cannot
    work here the model is returned as it is, with a note in the log."""

    model = Socket("MODEL")
    backend = Combo(choices=["inductor", "cudagraphs"])
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, backend: str) -> tuple:
        from diffusion.torch_compile import TorchCompilePatch, compile_unavailable

        reason = compile_unavailable(backend, model.device)
        if reason is not None:
            log.warning("TorchCompileModel: %s; the model runs without compiling", reason)
            return (model,)
        return (model.with_unet_patch(TorchCompilePatch(backend)),)
