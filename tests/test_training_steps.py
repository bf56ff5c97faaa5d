"""Pieces of the training recipe: what the VAE sees, and the recolour pairs the UNet learns edits from."""
from __future__ import annotations

import random

import torch

from training.recolour_pairs import encode_pairs, noise_target, pair_caption
from training.shapes_data import parse_prompt, random_scene, recoloured
from training.vae_stage import shape_weight, vae_batch


def test_vae_crops_hold_the_shape():
    crops = vae_batch(seed=11, count=16, size=48, small_share=1.0)
    assert crops.shape == (16, 3, 48, 48)
    assert -1.0 <= float(crops.min()) and float(crops.max()) <= 1.0
    for crop in crops:
        background = crop[:, :1, :1]
        on_shape = (crop - background).abs().sum(dim=0) > 0.05
        # a small shape (about 40 px) shifted by at most 12 px keeps most of itself in a 48-px window
        assert on_shape.sum() >= 0.4 * 40 * 40 * 0.5


def test_vae_batches_are_reproducible_and_whole_frames_at_128():
    assert torch.equal(vae_batch(3, 4, 48, 0.7), vae_batch(3, 4, 48, 0.7))
    assert not torch.equal(vae_batch(3, 4, 48, 0.7), vae_batch(4, 4, 48, 0.7))
    assert vae_batch(3, 2, 128, 0.7).shape == (2, 3, 128, 128)


def test_small_share_biases_the_size():
    rng = random.Random(0)
    sizes = [random_scene(rng, small_share=0.7).size for _ in range(2000)]
    assert 0.65 < sizes.count("small") / len(sizes) < 0.75


def test_shape_weight_marks_the_shape_and_its_edge():
    crops = vae_batch(5, 4, 48, 0.5)
    weight = shape_weight(crops, 4.0)
    on_shape = (crops - crops[:, :, :1, :1]).abs().sum(dim=1, keepdim=True) > 0.05
    assert bool((weight[on_shape] == 5.0).all())
    assert float(weight.min()) == 1.0


def test_recoloured_scene_keeps_the_geometry_and_changes_a_colour():
    rng = random.Random(1)
    for _ in range(200):
        scene = random_scene(rng)
        other = recoloured(scene, rng)
        assert (other.shape, other.size, other.position) == (scene.shape, scene.size, scene.position)
        assert (other.colour, other.background) != (scene.colour, scene.background)
        assert other.colour != other.background


def test_pair_captions_name_a_changed_background():
    rng = random.Random(2)
    for _ in range(200):
        scene = random_scene(rng)
        other = recoloured(scene, rng)
        wanted = parse_prompt(pair_caption(other, scene, rng))
        assert wanted["colour"] == other.colour
        if other.background != scene.background:
            assert wanted["background"] == other.background


def test_noise_target_leads_from_the_source_to_the_target():
    g = torch.Generator().manual_seed(0)
    source, target, noise = (torch.randn(3, 4, 16, 16, generator=g) for _ in range(3))
    alpha_bar = torch.tensor([0.9, 0.5, 0.1]).view(-1, 1, 1, 1)
    xt = alpha_bar.sqrt() * source + (1 - alpha_bar).sqrt() * noise
    eps = noise_target(noise, source, target, alpha_bar)
    assert torch.allclose((xt - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt(), target, atol=1e-5)
    assert torch.equal(noise_target(noise, source, source, alpha_bar), noise)


def test_encoded_pairs_share_geometry_and_sample_both_ways():
    from training.architecture import build_vae

    torch.manual_seed(0)
    pairs = encode_pairs(build_vae().eval(), 5, seed=3, device=torch.device("cpu"))
    assert pairs.first.shape == pairs.second.shape == (5, 4, 16, 16) and len(pairs) == 5
    sources, targets, texts = pairs.sample(8, torch.Generator().manual_seed(1), random.Random(1))
    assert sources.shape == targets.shape == (8, 4, 16, 16) and len(texts) == 8
    assert not torch.equal(sources, targets)
