"""Sampler nodes: KSampler and KSamplerAdvanced, as in ComfyUI."""
from __future__ import annotations

from typing import Any

from .registry import Node, register_node
from .spec import Combo, Float, Int, Output, Socket

SEED_MAX = 0xFFFFFFFFFFFFFFFF


def _sampler_names(_: Any = None) -> list[str]:
    from diffusion.sampling import SAMPLER_NAMES

    return list(SAMPLER_NAMES)


def _scheduler_names(_: Any = None) -> list[str]:
    from diffusion.sampling import SCHEDULER_NAMES

    return list(SCHEDULER_NAMES)


def _step_callback(ctx, model):
    """Report each step (with a cheap latent preview when asked) and honour interrupts."""

    def on_step(info) -> None:
        ctx.check_interrupted()
        preview = None
        if ctx.want_previews:
            from diffusion.previews import latent_preview

            preview = latent_preview(info.denoised, model)
        ctx.report_progress(info.step + 1, info.total, preview)

    return on_step


def run_sampler(ctx, model, latent: dict, positive, negative, **options: Any) -> dict:
    """Shared body of both sampler nodes."""
    from diffusion.sampling import sample

    samples = sample(
        model,
        latent["samples"],
        positive,
        negative,
        noise_mask=latent.get("noise_mask"),
        batch_index=latent.get("batch_index"),
        callback=_step_callback(ctx, model),
        **options,
    )
    out = dict(latent)
    out["samples"] = samples
    return out


@register_node("KSampler", category="sampling", display_name="KSampler")
class KSampler(Node):
    """Denoises a latent, guided by the positive and negative conditioning."""

    model = Socket("MODEL", tooltip="The model used for denoising.")
    seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True,
               tooltip="The seed of the starting noise.")
    steps = Int(default=20, min=1, max=10000, tooltip="How many denoising steps.")
    cfg = Float(default=8.0, min=0.0, max=100.0, step=0.1, round=0.01,
                tooltip="Classifier-free guidance: how closely to follow the prompt.")
    sampler_name = Combo(choices=_sampler_names, tooltip="The sampling algorithm.")
    scheduler = Combo(choices=_scheduler_names, tooltip="How noise levels are spaced over the steps.")
    positive = Socket("CONDITIONING", tooltip="What the image should show.")
    negative = Socket("CONDITIONING", tooltip="What the image should not show.")
    latent_image = Socket("LATENT", tooltip="The latent to denoise.")
    denoise = Float(default=1.0, min=0.0, max=1.0, step=0.01,
                    tooltip="How much of the latent to replace; below 1 keeps some of the input (img2img).")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                positive, negative, latent_image: dict, denoise: float = 1.0) -> tuple:
        out = run_sampler(ctx, model, latent_image, positive, negative, seed=seed, steps=steps, cfg=cfg,
                          sampler_name=sampler_name, scheduler=scheduler, denoise=denoise)
        return (out,)


@register_node("KSamplerAdvanced", category="sampling", display_name="KSampler (Advanced)")
class KSamplerAdvanced(Node):
    """A sampler with control over the noise and the range of steps, for multi-stage sampling."""

    model = Socket("MODEL")
    add_noise = Combo(choices=["enable", "disable"], default="enable")
    noise_seed = Int(default=0, min=0, max=SEED_MAX, control_after_generate=True)
    steps = Int(default=20, min=1, max=10000)
    cfg = Float(default=8.0, min=0.0, max=100.0, step=0.1, round=0.01)
    sampler_name = Combo(choices=_sampler_names)
    scheduler = Combo(choices=_scheduler_names)
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    latent_image = Socket("LATENT")
    start_at_step = Int(default=0, min=0, max=10000)
    end_at_step = Int(default=10000, min=0, max=10000)
    return_with_leftover_noise = Combo(choices=["disable", "enable"], default="disable")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, model, add_noise: str, noise_seed: int, steps: int, cfg: float, sampler_name: str,
                scheduler: str, positive, negative, latent_image: dict, start_at_step: int, end_at_step: int,
                return_with_leftover_noise: str) -> tuple:
        out = run_sampler(
            ctx, model, latent_image, positive, negative, seed=noise_seed, steps=steps, cfg=cfg,
            sampler_name=sampler_name, scheduler=scheduler, denoise=1.0, add_noise=add_noise == "enable",
            start_step=start_at_step, last_step=end_at_step,
            force_full_denoise=return_with_leftover_noise != "enable",
        )
        return (out,)
