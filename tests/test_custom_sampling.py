"""Custom sampling graphs (noise, guider, sampler and sigmas as nodes) against KSampler, the
SIGMAS nodes against their formulas, and the ModelSampling patches, on a tiny SD1 model."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from diffusion.denoiser import sampling_of
from executor.run import Executor
from nodes import custom_sampling, model_sampling_nodes, sampler_nodes, sigma_nodes

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"

# `folders` (a tiny SD1 checkpoint, sd1.safetensors), `executor` on it and `parts` (it, loaded)
# come from tests/conftest.py.


@pytest.fixture(scope="module")
def model(parts):
    return parts.model


def _ksampler_prompt(sampler: str, scheduler: str, denoise: float, seed: int = 5, steps: int = 4) -> dict:
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=steps, seed=seed, cfg=4.5, sampler_name=sampler, scheduler=scheduler,
                                 denoise=denoise)
    prompt["5"]["inputs"]["batch_size"] = 2
    return prompt


def _custom_prompt(sampler: str, scheduler: str, denoise: float, seed: int = 5, steps: int = 4) -> dict:
    """The same settings as `_ksampler_prompt`, through SamplerCustomAdvanced."""
    prompt = _ksampler_prompt(sampler, scheduler, denoise, seed, steps)
    del prompt["3"]
    prompt.update({
        "20": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "21": {"class_type": "CFGGuider", "inputs": {"model": ["4", 0], "positive": ["6", 0],
                                                      "negative": ["7", 0], "cfg": 4.5}},
        "22": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}},
        "23": {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0], "scheduler": scheduler,
                                                           "steps": steps, "denoise": denoise}},
        "3": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["20", 0], "guider": ["21", 0],
                                                                "sampler": ["22", 0], "sigmas": ["23", 0],
                                                                "latent_image": ["5", 0]}},
    })
    return prompt


def _output(executor: Executor, prompt: dict, node: str, slot: int = 0):
    from executor.cache import compute_keys

    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys[node]).outputs[slot]


@pytest.mark.parametrize("sampler,scheduler,denoise", [
    ("euler", "normal", 1.0),
    ("dpmpp_2m", "karras", 1.0),
    ("euler_ancestral", "simple", 0.7),
])
def test_sampler_custom_advanced_matches_ksampler_bit_for_bit(executor, sampler, scheduler, denoise):
    reference = _output(executor, _ksampler_prompt(sampler, scheduler, denoise), "3")["samples"]
    custom = _output(executor, _custom_prompt(sampler, scheduler, denoise), "3")["samples"]
    assert torch.equal(custom, reference)
    denoised = _output(executor, _custom_prompt(sampler, scheduler, denoise), "3", slot=1)["samples"]
    assert denoised.shape == reference.shape and torch.isfinite(denoised).all()


def test_sampler_custom_matches_ksampler(executor):
    reference = _output(executor, _ksampler_prompt("euler", "karras", 1.0, seed=9), "3")["samples"]
    prompt = _custom_prompt("euler", "karras", 1.0, seed=9)
    prompt["3"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["4", 0], "add_noise": True, "noise_seed": 9, "cfg": 4.5, "positive": ["6", 0],
        "negative": ["7", 0], "sampler": ["22", 0], "sigmas": ["23", 0], "latent_image": ["5", 0]}}
    assert torch.equal(_output(executor, prompt, "3")["samples"], reference)


def test_disable_noise_with_denoise_zero_returns_the_input(executor):
    prompt = _custom_prompt("euler", "normal", 0.0)
    prompt["20"] = {"class_type": "DisableNoise", "inputs": {}}
    latent = _output(executor, prompt, "5")["samples"]
    assert torch.equal(_output(executor, prompt, "3")["samples"], latent)


def test_basic_and_dual_guiders_and_every_sampler_node_run(executor):
    prompt = _custom_prompt("euler", "normal", 1.0, steps=3)
    prompt["21"] = {"class_type": "DualCFGGuider", "inputs": {
        "model": ["4", 0], "cond1": ["6", 0], "cond2": ["7", 0], "negative": ["7", 0], "cfg_conds": 5.0,
        "cfg_cond2_negative": 2.0, "style": "regular"}}
    dual = _output(executor, prompt, "3")["samples"]
    prompt["21"] = {"class_type": "BasicGuider", "inputs": {"model": ["4", 0], "conditioning": ["6", 0]}}
    basic = _output(executor, prompt, "3")["samples"]
    assert torch.isfinite(dual).all() and torch.isfinite(basic).all() and not torch.equal(dual, basic)
    seen = []
    for name, cls in sorted(vars(sampler_nodes).items()):
        if not (isinstance(cls, type) and name.startswith("Sampler") and cls.__module__ == sampler_nodes.__name__):
            continue
        inputs = {spec.name: ["4", 0] if spec.type == "MODEL" else
                  spec.default if spec.default is not None else spec.current_choices()[0]
                  for spec in cls.input_specs()}
        prompt["22"] = {"class_type": cls.NODE_ID, "inputs": inputs}
        out = _output(executor, prompt, "3")["samples"]
        assert torch.isfinite(out).all(), cls.NODE_ID
        seen.append(cls.NODE_ID)
    assert {"SamplerEulerAncestral", "SamplerDPMPP_3M_SDE", "SamplerSASolver", "SamplerER_SDE",
            "SamplerLCMUpscale", "SamplerEulerCFGpp", "SamplerDPMAdaptative"} <= set(seen)


def test_perp_neg_guider_with_empty_negative_equals_cfg(model):
    from diffusion.guiders import CFGGuide, PerpNegGuide

    torch.manual_seed(0)
    pos = [[torch.randn(1, 77, 32), {}]]
    neg = [[torch.randn(1, 77, 32), {}]]
    empty = [[torch.zeros(1, 77, 32), {}]]
    x = torch.randn(1, 4, 8, 8) * 3.0
    sigma = torch.tensor([3.0])

    def run(guide):
        from diffusion.denoiser import Denoiser

        return Denoiser(model, guide)(x, sigma)

    cfg = run(CFGGuide(model, pos, empty, 6.0))
    perp_neg = run(PerpNegGuide(model, pos, empty, empty, 6.0, 1.0))
    torch.testing.assert_close(perp_neg, cfg, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(run(PerpNegGuide(model, pos, neg, empty, 6.0, 1.0)), cfg)


# -- SIGMAS nodes -------------------------------------------------------------------------


def test_formula_schedulers():
    karras = sigma_nodes.KarrasScheduler().execute(None, steps=4, sigma_max=10.0, sigma_min=0.1, rho=7.0)[0]
    ramp = torch.linspace(0, 1, 4)
    expected = (10.0 ** (1 / 7) + ramp * (0.1 ** (1 / 7) - 10.0 ** (1 / 7))) ** 7
    torch.testing.assert_close(karras[:-1].double(), expected.double(), rtol=1e-5, atol=1e-6)
    assert karras[-1] == 0 and karras.shape == (5,)
    exp = sigma_nodes.ExponentialScheduler().execute(None, steps=3, sigma_max=8.0, sigma_min=0.5)[0]
    torch.testing.assert_close(exp[:-1], torch.tensor([8.0, 2.0, 0.5]), rtol=1e-5, atol=1e-6)
    poly = sigma_nodes.PolyexponentialScheduler().execute(None, steps=3, sigma_max=8.0, sigma_min=0.5, rho=1.0)[0]
    torch.testing.assert_close(poly, exp, rtol=1e-5, atol=1e-6)  # rho 1 is the exponential schedule
    for node, kwargs in [
        (sigma_nodes.LaplaceScheduler, dict(steps=6, sigma_max=14.6, sigma_min=0.03, mu=0.0, beta=0.5)),
        (sigma_nodes.VPScheduler, dict(steps=6, beta_d=19.9, beta_min=0.1, eps_s=0.001)),
        (sigma_nodes.GITSScheduler, dict(coeff=1.2, steps=6, denoise=1.0)),
        (sigma_nodes.AlignYourStepsScheduler, dict(model_type="SD1", steps=6, denoise=1.0)),
        (sigma_nodes.OptimalStepsScheduler, dict(model_type="FLUX", steps=6, denoise=1.0)),
    ]:
        sigmas = node().execute(None, **kwargs)[0]
        assert sigmas.shape == (7,), node.__name__
        assert sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all()), node.__name__


def test_schedulers_that_read_the_model(model):
    sampling = sampling_of(model)
    basic = sigma_nodes.BasicScheduler().execute(None, model, "normal", 4, 1.0)[0]
    assert basic.shape == (5,) and math.isclose(float(basic[0]), float(sampling.sigma_max), rel_tol=1e-5)
    half = sigma_nodes.BasicScheduler().execute(None, model, "normal", 4, 0.5)[0]
    torch.testing.assert_close(half, sigma_nodes.BasicScheduler().execute(None, model, "normal", 8, 1.0)[0][-5:])
    assert sigma_nodes.BasicScheduler().execute(None, model, "normal", 4, 0.0)[0].numel() == 0
    turbo = sigma_nodes.SDTurboScheduler().execute(None, model, steps=1, denoise=1.0)[0]
    torch.testing.assert_close(turbo, torch.stack([sampling.sigmas[999], torch.tensor(0.0)]).float())
    beta = sigma_nodes.BetaSamplingScheduler().execute(None, model, steps=5, alpha=0.6, beta=0.6)[0]
    assert beta.shape == (6,) and beta[-1] == 0
    top = sigma_nodes.SamplingPercentToSigma().execute(None, model, 0.0, True)[0]
    assert math.isclose(top, float(sampling.sigma_max), rel_tol=1e-4)
    assert sigma_nodes.SamplingPercentToSigma().execute(None, model, 0.0, False)[0] == 999999999.9
    assert sigma_nodes.SamplingPercentToSigma().execute(None, model, 1.0, False)[0] == 0.0


def test_sigma_list_operations():
    sigmas = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])
    high, low = sigma_nodes.SplitSigmas().execute(None, sigmas, step=2)
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    high, low = sigma_nodes.SplitSigmasDenoise().execute(None, sigmas, denoise=0.5)
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    flipped = sigma_nodes.FlipSigmas().execute(None, sigmas)[0]
    assert flipped.tolist()[1:] == [1.0, 2.0, 5.0, 10.0] and math.isclose(float(flipped[0]), 1e-4, rel_tol=1e-3)
    assert sigma_nodes.SetFirstSigma().execute(None, sigmas, sigma=12.5)[0].tolist() == [12.5, 5.0, 2.0, 1.0, 0.0]
    assert sigmas[0] == 10.0  # the input is not changed in place
    extended = sigma_nodes.ExtendIntermediateSigmas().execute(None, sigmas, steps=2, start_at_sigma=-1.0,
                                                              end_at_sigma=1.5, spacing="linear")[0]
    assert extended.tolist() == [10.0, 7.5, 5.0, 3.5, 2.0, 1.5, 1.0, 0.0]
    manual = sigma_nodes.ManualSigmas().execute(None, "1, 0.5 ,0.25,0")[0]
    assert manual.tolist() == [1.0, 0.5, 0.25, 0.0]


# -- ModelSampling patches ---------------------------------------------------------------


def test_model_sampling_nodes_change_the_schedule_and_not_the_source(model):
    before = sampling_of(model).sigmas.clone()
    lcm = model_sampling_nodes.ModelSamplingDiscrete().execute(None, model, "lcm", False)[0]
    assert lcm is not model and torch.equal(sampling_of(model).sigmas, before)
    zsnr = model_sampling_nodes.ModelSamplingDiscrete().execute(None, model, "eps", True)[0]
    # zero terminal SNR: the last alpha_cumprod becomes 4.8973e-08 (as ComfyUI), so sigma_max ~ 4518.8
    assert math.isclose(float(sampling_of(zsnr).sigma_max), 4518.76, rel_tol=1e-3)
    edm = model_sampling_nodes.ModelSamplingContinuousEDM().execute(None, model, "v_prediction", 120.0, 0.002)[0]
    assert math.isclose(float(sampling_of(edm).sigma_max), 120.0, rel_tol=1e-4)
    assert math.isclose(float(sampling_of(edm).sigma_min), 0.002, rel_tol=1e-4)
    v = model_sampling_nodes.ModelSamplingContinuousV().execute(None, model, "v_prediction", 500.0, 0.03)[0]
    assert math.isclose(float(sampling_of(v).sigma_max), 500.0, rel_tol=1e-4)
    x = torch.randn(1, 4, 8, 8)
    out = torch.randn(1, 4, 8, 8)
    sigma = torch.tensor([2.0])
    # eps: x - sigma * eps; v: x * s_d^2/(s^2+s_d^2) - v * s * s_d / sqrt(s^2 + s_d^2)
    torch.testing.assert_close(sampling_of(model).calculate_denoised(sigma, out, x), x - 2.0 * out)
    v_model = model_sampling_nodes.ModelSamplingDiscrete().execute(None, model, "v_prediction", False)[0]
    torch.testing.assert_close(sampling_of(v_model).calculate_denoised(sigma, out, x),
                               x / 5.0 - out * 2.0 / math.sqrt(5.0))
    x0_model = model_sampling_nodes.ModelSamplingDiscrete().execute(None, model, "x0", False)[0]
    assert torch.equal(sampling_of(x0_model).calculate_denoised(sigma, out, x), out)


def test_patched_schedule_reaches_the_sampler(executor):
    prompt = _ksampler_prompt("euler", "normal", 1.0, steps=3)
    base = _output(executor, prompt, "3")["samples"]
    prompt["30"] = {"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["4", 0], "sampling": "v_prediction",
                                                                       "zsnr": False}}
    prompt["3"]["inputs"]["model"] = ["30", 0]
    patched = _output(executor, prompt, "3")["samples"]
    assert torch.isfinite(patched).all() and not torch.equal(patched, base)
    assert custom_sampling.SamplerCustomAdvanced.NODE_ID == "SamplerCustomAdvanced"
