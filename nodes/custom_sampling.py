"""Custom sampling as in ComfyUI: noise, guider, sampler and sigmas as separate nodes.

SamplerCustomAdvanced with RandomNoise, CFGGuider, KSamplerSelect and BasicScheduler runs
the same code as KSampler with the same settings, so the latent is the same.
"""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .sampling import SEED_MAX, _step_callback
from .spec import Boolean, Combo, Float, Int, Output, Socket

CUSTOM = "sampling/custom_sampling"
GUIDERS = "sampling/custom_sampling/guiders"
NOISE = "sampling/custom_sampling/noise"
LATENT_OUTS = (Output("LATENT", "output"), Output("LATENT", "denoised_output"))
GUIDER_OUT = (Output("GUIDER", "GUIDER"),)


def _cfg() -> Float:
    return Float(default=8.0, min=0.0, max=100.0, step=0.1, round=0.01)


def _recording(ctx, model, last: dict):
    """The node's step reporter, keeping the last step's estimate of the clean latent."""
    report = _step_callback(ctx, model)

    def on_step(info) -> None:
        last["x0"] = info.denoised
        report(info)

    return on_step


def _outputs(model, latent: dict, samples, last: dict) -> tuple:
    out = dict(latent)
    out["samples"] = samples
    if "x0" not in last:
        return out, out
    denoised = dict(latent)
    denoised["samples"] = (last["x0"] / float(model.latent_scale)).to("cpu", samples.dtype)
    return out, denoised


def _guider(model, guide):
    from diffusion.custom_sampling import Guider

    return (Guider(model, guide),)


@register_node("SamplerCustom", category=CUSTOM)
class SamplerCustom(Node):
    """Sample with any SAMPLER along any SIGMAS, guided by cfg; also returns the last
    step's estimate of the clean latent."""

    model = Socket("MODEL")
    add_noise = Boolean(default=True)
    noise_seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True)
    cfg = _cfg()
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    sampler = Socket("SAMPLER")
    sigmas = Socket("SIGMAS")
    latent_image = Socket("LATENT")
    OUTPUTS = LATENT_OUTS

    def execute(self, ctx, model, add_noise: bool, noise_seed: int, cfg: float, positive, negative, sampler,
                sigmas, latent_image: dict) -> tuple:
        from diffusion.custom_sampling import EmptyNoise, RandomNoise, sampler_value
        from diffusion.sampling import sample_sigmas

        noise = (RandomNoise(noise_seed) if add_noise else EmptyNoise()).generate_noise(latent_image)
        spec, options = sampler_value(sampler)
        last: dict = {}
        samples = sample_sigmas(model, latent_image["samples"], positive, negative, cfg=cfg, sigmas=sigmas,
                                noise=noise, seed=noise_seed, sampler=spec, sampler_options=options,
                                noise_mask=latent_image.get("noise_mask"), callback=_recording(ctx, model, last),
                                batch_index=_batch_index(latent_image))
        return _outputs(model, latent_image, samples, last)


def _batch_index(latent: dict) -> Any:
    index = latent.get("batch_index")
    return index if index is not None and len(index) == latent["samples"].shape[0] else None


@register_node("SamplerCustomAdvanced", category=CUSTOM)
class SamplerCustomAdvanced(Node):
    """Sample with separate NOISE, GUIDER, SAMPLER and SIGMAS; also returns the last step's
    estimate of the clean latent."""

    noise = Socket("NOISE")
    guider = Socket("GUIDER")
    sampler = Socket("SAMPLER")
    sigmas = Socket("SIGMAS")
    latent_image = Socket("LATENT")
    OUTPUTS = LATENT_OUTS

    def execute(self, ctx, noise, guider, sampler, sigmas, latent_image: dict) -> tuple:
        from diffusion.custom_sampling import Guider

        drawn = noise.generate_noise(latent_image)
        seed = int(getattr(noise, "seed", 0) or 0)
        mask = latent_image.get("noise_mask")
        last: dict = {}
        if isinstance(guider, Guider):
            model = guider.model
            samples = guider.run(drawn, latent_image["samples"], sampler, sigmas, noise_mask=mask,
                                 callback=_recording(ctx, model, last), seed=seed,
                                 batch_index=_batch_index(latent_image))
        else:  # a node pack's guider, with ComfyUI's sample() and callback convention
            model = getattr(guider, "model_patcher", None)
            report = _recording(ctx, model, last)

            def callback(step: int, x0, x, total: int) -> None:
                from diffusion.types import StepInfo

                report(StepInfo(step, total, x, x0, 0.0))

            samples = guider.sample(drawn, latent_image["samples"], sampler, sigmas, denoise_mask=mask,
                                    callback=callback, disable_pbar=True, seed=seed)
        return _outputs(model, latent_image, samples.to("cpu"), last)


@register_node("RandomNoise", category=NOISE)
class RandomNoise(Node):
    """Seeded starting noise, the same as KSampler's for the seed."""

    noise_seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True)
    OUTPUTS = (Output("NOISE", "NOISE"),)

    def execute(self, ctx, noise_seed: int) -> tuple:
        from diffusion.custom_sampling import RandomNoise as Noise

        return (Noise(noise_seed),)


@register_node("DisableNoise", category=NOISE)
class DisableNoise(Node):
    """No starting noise: refine a latent that is already noisy."""

    OUTPUTS = (Output("NOISE", "NOISE"),)

    def execute(self, ctx) -> tuple:
        from diffusion.custom_sampling import EmptyNoise

        return (EmptyNoise(),)


@register_node("AddNoise", category="_for_testing/custom_sampling/noise")
class AddNoise(Node):
    """Noise a latent to the level of the first sigma (minus the last), as sampling would."""

    model = Socket("MODEL")
    noise = Socket("NOISE")
    sigmas = Socket("SIGMAS")
    latent_image = Socket("LATENT")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, model, noise, sigmas, latent_image: dict) -> tuple:
        from diffusion.custom_sampling import add_noise

        return (add_noise(model, noise, sigmas, latent_image),)


@register_node("BasicGuider", category=GUIDERS)
class BasicGuider(Node):
    """The conditioning alone, no negative (distilled models)."""

    model = Socket("MODEL")
    conditioning = Socket("CONDITIONING")
    OUTPUTS = GUIDER_OUT

    def execute(self, ctx, model, conditioning) -> tuple:
        from diffusion.guiders import BasicGuide

        return _guider(model, BasicGuide(model, conditioning))


@register_node("CFGGuider", category=GUIDERS)
class CFGGuider(Node):
    """Classifier-free guidance, as KSampler's."""

    model = Socket("MODEL")
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    cfg = _cfg()
    OUTPUTS = GUIDER_OUT

    def execute(self, ctx, model, positive, negative, cfg: float) -> tuple:
        from diffusion.guiders import CFGGuide

        return _guider(model, CFGGuide(model, positive, negative, cfg))


@register_node("DualCFGGuider", category=GUIDERS)
class DualCFGGuider(Node):
    """Two prompts with their own guidance scales against one negative."""

    model = Socket("MODEL")
    cond1 = Socket("CONDITIONING")
    cond2 = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    cfg_conds = _cfg()
    cfg_cond2_negative = _cfg()
    style = Combo(choices=["regular", "nested"], added_later=True)
    OUTPUTS = GUIDER_OUT

    def execute(self, ctx, model, cond1, cond2, negative, cfg_conds: float, cfg_cond2_negative: float,
                style: str = "regular") -> tuple:
        from diffusion.guiders import DualCFGGuide

        return _guider(model, DualCFGGuide(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative,
                                           nested=style == "nested"))


@register_node("PerpNegGuider", category="_for_testing")
class PerpNegGuider(Node):
    """Perp-Neg: guidance from an empty prompt, pushing away only from the part of the
    negative that does not overlap the positive."""

    model = Socket("MODEL")
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    empty_conditioning = Socket("CONDITIONING")
    cfg = _cfg()
    neg_scale = Float(default=1.0, min=0.0, max=100.0, step=0.01)
    OUTPUTS = GUIDER_OUT

    def execute(self, ctx, model, positive, negative, empty_conditioning, cfg: float, neg_scale: float) -> tuple:
        from diffusion.guiders import PerpNegGuide

        return _guider(model, PerpNegGuide(model, positive, negative, empty_conditioning, cfg, neg_scale))


@register_node("PerpNeg", category="_for_testing", display_name="Perp-Neg (DEPRECATED by PerpNegGuider)")
class PerpNeg(Node):
    """Perp-Neg as a model patch for KSampler (the guider form is PerpNegGuider)."""

    model = Socket("MODEL")
    empty_conditioning = Socket("CONDITIONING")
    neg_scale = Float(default=1.0, min=0.0, max=100.0, step=0.01)
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model, empty_conditioning, neg_scale: float) -> tuple:
        from diffusion.guiders import perp_neg_cfg_function

        patched = model.clone()
        patched.set_model_sampler_cfg_function(perp_neg_cfg_function(empty_conditioning, neg_scale))
        return (patched,)
