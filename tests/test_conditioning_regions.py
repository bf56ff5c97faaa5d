"""Area, mask, strength and timestep-range conditioning, in the denoiser and through nodes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from diffusion.denoiser import ModelDenoiser
from diffusion.regions import percent_to_sigma, region_for
from diffusion.schedules import model_sigmas
from executor.cache import compute_keys
from executor.run import Executor
from nodes import conditioning_regions as cr

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
# `folders` (a tiny SD1 checkpoint, sd1.safetensors) and `parts` (it, loaded) come from tests/conftest.py.


def _cond(parts, text: str) -> list:
    cond, pooled = parts.clip.encode_text(text)
    return [[cond, {"pooled_output": pooled}]]


def _denoise(parts, positive: list, sigma: float = 3.0, size: int = 16) -> torch.Tensor:
    x = torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(0)) * sigma
    return ModelDenoiser(parts.model, positive, [], cfg=1.0)(x, sigma)


def test_an_area_prompt_only_changes_its_area(parts):
    base = _cond(parts, "a red circle")
    area = cr.ConditioningSetArea().execute(None, _cond(parts, "a blue star"), width=64, height=64, x=64, y=0,
                                            strength=1.0)[0]
    assert area[0][1]["area"] == (8, 8, 0, 8)
    alone = _denoise(parts, base)
    both = _denoise(parts, base + area)
    assert torch.equal(both[..., 8:, :], alone[..., 8:, :])  # outside the rectangle: untouched
    assert torch.equal(both[..., :, :8], alone[..., :, :8])
    assert not torch.allclose(both[..., :8, 8:], alone[..., :8, 8:])
    # the rectangle's inner edge (bottom) ramps in over 8 latent rows: row 7 weighs 1/8
    only_area = _denoise(parts, area)
    assert torch.equal(only_area[..., 8:, :], torch.zeros_like(only_area[..., 8:, :]))


def test_area_weights_follow_comfyui_feathering():
    region = region_for(16, 16, 2.0, area=(8, 8, 0, 8))
    assert region.area == (8, 8, 0, 8)
    weights = region.weight[0, 0]
    assert weights[0, 7].item() == pytest.approx(2.0)  # top and right borders: no ramp
    assert weights[7, 7].item() == pytest.approx(2.0 / 8)  # bottom row inside the latent
    assert weights[0, 0].item() == pytest.approx(2.0 / 8)  # left column inside the latent
    pct = region_for(16, 16, 1.0, area=("percentage", 0.5, 0.25, 0.5, 0.0))
    assert pct.area == (8, 4, 8, 0)


def test_mask_conditioning_and_mask_bounds(parts):
    base = _cond(parts, "a red circle")
    mask = torch.zeros(1, 128, 128)
    mask[:, 64:, 64:] = 1.0
    masked = cr.ConditioningSetMask().execute(None, _cond(parts, "a blue star"), mask, 1.0, "default")[0]
    alone, both = _denoise(parts, base), _denoise(parts, base + masked)
    # both share one batched UNet call here, hence a tolerance instead of bit equality
    torch.testing.assert_close(both[..., :8, :], alone[..., :8, :], atol=1e-4, rtol=0)
    assert not torch.allclose(both[..., 8:, 8:], alone[..., 8:, 8:])
    bounded = cr.ConditioningSetMask().execute(None, _cond(parts, "a blue star"), mask, 1.0, "mask bounds")[0]
    assert region_for(16, 16, 1.0, mask=mask, set_area_to_bounds=True).area == (8, 8, 8, 8)
    assert torch.equal(_denoise(parts, base + bounded)[..., :8, :], alone[..., :8, :])


def test_strength_weighs_the_average(parts):
    a, b = _cond(parts, "a red circle"), _cond(parts, "a blue star")
    da, db = _denoise(parts, a), _denoise(parts, b)
    strong = cr.ConditioningSetAreaStrength().execute(None, b, strength=3.0)[0]
    torch.testing.assert_close(_denoise(parts, a + strong), (da + 3 * db) / 4, atol=1e-5, rtol=0)


def test_timestep_range_switches_a_prompt_on_and_off(parts):
    a, b = _cond(parts, "a red circle"), _cond(parts, "a blue star")
    late = cr.ConditioningSetTimestepRange().execute(None, b, start=0.5, end=1.0)[0]
    sigmas = model_sigmas(parts.model.alphas_cumprod)
    middle = percent_to_sigma(0.5, sigmas)
    assert percent_to_sigma(0.0, sigmas) > 1e8 and percent_to_sigma(1.0, sigmas) == 0.0
    high, low = middle * 2, middle / 2
    assert torch.equal(_denoise(parts, a + late, sigma=high), _denoise(parts, a, sigma=high))
    assert not torch.allclose(_denoise(parts, a + late, sigma=low), _denoise(parts, a, sigma=low))


def test_concat_average_zero_out():
    to = [[torch.ones(1, 77, 8), {"pooled_output": torch.ones(1, 4)}]]
    src = [[torch.full((1, 154, 8), 3.0), {"pooled_output": torch.zeros(1, 4)}]]
    cat = cr.ConditioningConcat().execute(None, to, src)[0]
    assert cat[0][0].shape == (1, 231, 8) and "pooled_output" in cat[0][1]
    avg = cr.ConditioningAverage().execute(None, to, src, conditioning_to_strength=0.25)[0]
    torch.testing.assert_close(avg[0][0], torch.full((1, 77, 8), 0.25 + 2.25))
    torch.testing.assert_close(avg[0][1]["pooled_output"], torch.full((1, 4), 0.25))
    short = [[torch.full((1, 10, 8), 2.0), {}]]
    padded = cr.ConditioningAverage().execute(None, to, short, conditioning_to_strength=0.5)[0][0][0]
    assert padded[0, 0, 0] == 1.5 and padded[0, 50, 0] == 0.5
    zero = cr.ConditioningZeroOut().execute(None, to)[0]
    assert not zero[0][0].any() and not zero[0][1]["pooled_output"].any()
    assert to[0][0].eq(1).all()  # inputs untouched


def test_area_workflow_changes_mostly_its_area(folders):
    executor = Executor(folders)
    prompt = json.loads((WORKFLOWS / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    prompt["5"]["inputs"].update(width=128, height=128)
    prompt["3"]["inputs"].update(steps=4, cfg=1.0)

    def latent() -> torch.Tensor:
        assert executor.run(prompt).status == "success"
        plan = executor.plans.get(prompt, executor.registry, executor.folders)
        keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, folders)
        return executor.cache.get(keys["3"]).outputs[0]["samples"]

    plain = latent()
    prompt["20"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a blue star", "clip": ["4", 1]}}
    prompt["21"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["20", 0], "width": 64,
                    "height": 64, "x": 64, "y": 0, "strength": 1.0}}
    prompt["22"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0],
                                                                    "conditioning_2": ["21", 0]}}
    prompt["3"]["inputs"]["positive"] = ["22", 0]
    with_area = latent()
    change = (with_area - plain).abs().mean(dim=(0, 1))
    inside, outside = change[:8, 8:].mean(), change[8:, :8].mean()
    assert inside > 3 * outside, (inside, outside)
