"""ModelSampling* nodes: choose how a model's output is read and which sigmas it is fed
(eps, v-prediction, x0, LCM, zero terminal SNR; continuous EDM and V schedules)."""
from __future__ import annotations

from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Output, Socket

MODEL_OUT = (Output("MODEL", "MODEL"),)


def _with_sampling(model, sampling) -> tuple:
    patched = model.clone()
    patched.add_object_patch("model_sampling", sampling)
    return (patched,)


@register_node("ModelSamplingDiscrete", category="advanced/model")
class ModelSamplingDiscrete(Node):
    """A discrete 1000-step schedule read as eps, v, LCM, x0 or img_to_img; zsnr rescales
    it to zero terminal SNR (for models trained that way)."""

    model = Socket("MODEL")
    sampling = Combo(choices=["eps", "v_prediction", "lcm", "x0", "img_to_img"])
    zsnr = Boolean(default=False)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, sampling: str, zsnr: bool) -> tuple:
        from diffusion.model_view import ModelSampling
        from diffusion.parameterization import PREDICTIONS, DiscreteSchedule, DistilledSchedule

        schedule_type = DistilledSchedule if sampling == "lcm" else DiscreteSchedule
        schedule = schedule_type(model.alphas_cumprod, zsnr=zsnr)
        return _with_sampling(model, ModelSampling(schedule=schedule, strategy=PREDICTIONS[sampling]()))


@register_node("ModelSamplingContinuousEDM", category="advanced/model")
class ModelSamplingContinuousEDM(Node):
    """A continuous EDM schedule between sigma_min and sigma_max (CosXL, EDM-trained models)."""

    model = Socket("MODEL")
    sampling = Combo(choices=["v_prediction", "edm", "edm_playground_v2.5", "eps", "cosmos_rflow"])
    sigma_max = Float(default=120.0, min=0.0, max=1000.0, step=0.001, round=False)
    sigma_min = Float(default=0.002, min=0.0, max=1000.0, step=0.001, round=False)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, sampling: str, sigma_max: float, sigma_min: float) -> tuple:
        from diffusion.model_view import ModelSampling
        from diffusion.parameterization import ContinuousSchedule, EDMPrediction, EpsPrediction, VPrediction

        if sampling in ("edm_playground_v2.5", "cosmos_rflow"):
            raise ValueError(f"sampling '{sampling}' is for model families this app does not load "
                             "(Playground v2.5's latent format, Cosmos); use edm, v_prediction or eps")
        strategy = {"edm": lambda: EDMPrediction(0.5), "v_prediction": VPrediction, "eps": EpsPrediction}[sampling]()
        schedule = ContinuousSchedule(sigma_min, sigma_max, "edm")
        return _with_sampling(model, ModelSampling(schedule=schedule, strategy=strategy))


@register_node("ModelSamplingContinuousV", category="advanced/model")
class ModelSamplingContinuousV(Node):
    """A continuous v-prediction schedule (timestep = 2 atan(sigma) / pi)."""

    model = Socket("MODEL")
    sampling = Combo(choices=["v_prediction"])
    sigma_max = Float(default=500.0, min=0.0, max=1000.0, step=0.001, round=False)
    sigma_min = Float(default=0.03, min=0.0, max=1000.0, step=0.001, round=False)
    OUTPUTS = MODEL_OUT

    def execute(self, ctx, model, sampling: str, sigma_max: float, sigma_min: float) -> tuple:
        from diffusion.model_view import ModelSampling
        from diffusion.parameterization import ContinuousSchedule, VPrediction

        schedule = ContinuousSchedule(sigma_min, sigma_max, "v")
        return _with_sampling(model, ModelSampling(schedule=schedule, strategy=VPrediction()))
