"""Synthetic shapes data and its scorer: batches, captions, prompt parsing, detection.

The scorer judges the built-in model, so it must read back what the generator drew, also
after the noise and blur a small diffusion model adds, and must not find shapes in
images that have none.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from training.shape_scoring import Detected, detect, mask_iou, score
from training.shapes_data import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    caption,
    make_batch,
    parse_prompt,
    random_scene,
    render,
    scene_box,
    shape_mask,
)

ATTRS = ("shape", "colour", "background", "position", "size")


def _degrade(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Soft edges and pixel noise, roughly what a small diffusion model produces."""
    img = img.filter(ImageFilter.GaussianBlur(1))
    arr = np.asarray(img, dtype=np.float32) / 255 + rng.normal(0, 0.05, (img.height, img.width, 3))
    return Image.fromarray((arr.clip(0, 1) * 255 + 0.5).astype(np.uint8))


def _accuracy(scenes, images) -> dict[str, float]:
    found = [detect(im) for im in images]
    return {k: np.mean([getattr(d, k) == getattr(s, k) for d, s in zip(found, scenes)])
            for k in ATTRS}


@pytest.fixture(scope="module")
def jittered() -> tuple[list[Scene], list[Image.Image]]:
    rng = random.Random(1234)
    scenes = [random_scene(rng) for _ in range(300)]
    return scenes, [render(s, 128, rng) for s in scenes]


# ---------------------------------------------------------------- data


def test_make_batch_is_deterministic_and_in_range():
    images, captions, scenes = make_batch(seed=3, count=6)
    again = make_batch(seed=3, count=6)
    other = make_batch(seed=4, count=6)
    assert images.shape == (6, 3, 128, 128) and images.dtype == torch.float32
    assert -1.0 <= images.min().item() and images.max().item() <= 1.0
    assert images.min().item() < -0.5 and images.max().item() > 0.5  # full range used
    assert torch.equal(images, again[0]) and captions == again[1] and scenes == again[2]
    assert not torch.equal(images, other[0]) and captions != other[1]
    assert len(captions) == len(scenes) == 6
    assert make_batch(seed=3, count=2, image_size=64)[0].shape == (2, 3, 64, 64)


def test_scenes_are_valid_and_shapes_stay_inside():
    rng = random.Random(0)
    for _ in range(500):
        scene = random_scene(rng)
        assert scene.colour != scene.background
        assert scene.shape in SHAPES and scene.size in SIZES and scene.position in POSITIONS
        x0, y0, x1, y1 = scene_box(scene, 128, rng)
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
    # Worst case, a large shape in a corner: the border stays pure background.
    img = np.asarray(render(Scene("square", "red", "blue", "large", "top left"), 128, rng))
    assert (img[0] == COLOURS["blue"]).all() and (img[:, 0] == COLOURS["blue"]).all()


def test_render_without_rng_is_canonical():
    scene = Scene("circle", "red", "white", "small", "centre")
    assert np.array_equal(np.asarray(render(scene)), np.asarray(render(scene)))
    assert scene_box(scene) == (44.0, 44.0, 84.0, 84.0)


# ---------------------------------------------------------------- captions and prompts


def test_captions_parse_back_to_the_scene():
    rng = random.Random(7)
    mentioned = {k: 0 for k in ATTRS}
    n = 400
    for _ in range(n):
        scene = random_scene(rng)
        text = caption(scene, rng)
        spelled = {"gray": ("gray", "grey")}.get(scene.colour, (scene.colour,))
        assert scene.shape in text and any(word in text for word in spelled)
        assert " a orange" not in f" {text}"
        wanted = parse_prompt(text)
        assert {"shape", "colour"} <= wanted.keys(), text
        for key, value in wanted.items():
            assert getattr(scene, key) == value, (text, wanted, scene)
            mentioned[key] += 1
    assert 0.6 < mentioned["position"] / n < 0.8
    assert 0.6 < mentioned["size"] / n < 0.8
    assert 0.75 < mentioned["background"] / n < 0.95


def test_caption_is_deterministic_given_rng():
    scene = Scene("star", "orange", "black", "large", "bottom right")
    first = [caption(scene, random.Random(5)) for _ in range(2)]
    assert first[0] == first[1]
    variants = {caption(scene, random.Random(i)) for i in range(60)}
    assert len(variants) > 20
    assert any(v.startswith("an orange") for v in variants)


@pytest.mark.parametrize("text, expected", [
    ("a small yellow triangle in the top left on a white background",
     dict(shape="triangle", colour="yellow", background="white", size="small", position="top left")),
    ("a green star", dict(shape="star", colour="green")),
    ("a red circle on a blue background", dict(shape="circle", colour="red", background="blue")),
    ("a large green star at the bottom right, black background",
     dict(shape="star", colour="green", background="black", size="large", position="bottom right")),
    ("blue square, centre, white background",
     dict(shape="square", colour="blue", background="white", position="centre")),
    ("an orange diamond on the left on a gray background",
     dict(shape="diamond", colour="orange", background="gray", position="left")),
    ("a pink cross", dict(shape="cross", colour="pink")),
    ("a grey square in the middle", dict(shape="square", colour="gray", position="centre")),
    ("a white background with a black circle at the center",
     dict(shape="circle", colour="black", background="white", position="centre")),
    ("purple star, upper right", dict(shape="star", colour="purple", position="top right")),
])
def test_parse_prompt_examples(text, expected):
    assert parse_prompt(text) == expected


# ---------------------------------------------------------------- detection


def test_detect_every_canonical_combination():
    for shape in SHAPES:
        for size in SIZES:
            for position in POSITIONS:
                scene = Scene(shape, "green", "white", size, position)
                d = detect(render(scene))
                assert (d.shape, d.colour, d.background, d.size, d.position) == (
                    shape, "green", "white", size, position)


def test_detect_jittered_renders(jittered):
    acc = _accuracy(*jittered)
    assert min(acc.values()) >= 0.98, acc


def test_detect_noisy_blurred_renders(jittered):
    scenes, images = jittered
    rng = np.random.default_rng(0)
    acc = _accuracy(scenes, [_degrade(im, rng) for im in images])
    assert min(acc.values()) >= 0.95, acc


def test_detected_mask_matches_the_drawn_shape():
    rng = random.Random(99)
    for i in range(20):
        scene = random_scene(rng)
        box = scene_box(scene, 128, random.Random(i))
        img = render(scene, 128, random.Random(i))  # same jitter as box
        drawn = shape_mask(scene.shape, box, 128) >= 0.5
        assert mask_iou(detect(img).mask, drawn) > 0.9


def test_no_shape_in_flat_or_noise_images():
    flat = detect(Image.new("RGB", (128, 128), COLOURS["gray"]))
    assert (flat.shape, flat.colour, flat.position, flat.size) == (None,) * 4
    assert flat.background == "gray" and not flat.mask.any()
    rng = np.random.default_rng(0)
    wanted = dict(shape="circle", colour="red", position="centre", size="large")
    for _ in range(5):
        noise = Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
        assert detect(noise).shape is None
        assert not any(score(noise, wanted).values())
        blobs = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        assert detect(blobs.resize((128, 128), Image.BICUBIC)).shape is None


def test_score():
    scene = Scene("cross", "blue", "yellow", "large", "centre")
    img = render(scene, 128, random.Random(0))
    assert score(img, "a large blue cross in the center on a yellow background") == dict(
        shape=True, colour=True, background=True, size=True, position=True)
    assert score(img, dict(shape="star", colour="blue", position="center")) == dict(
        shape=False, colour=True, position=True)
    det = detect(img)
    assert isinstance(det, Detected) and score(det, {"size": "small"}) == {"size": False}


def test_mask_iou():
    a = np.zeros((4, 4), dtype=bool)
    b = a.copy()
    assert mask_iou(a, b) == 1.0  # both empty: they agree
    a[:2] = True
    assert mask_iou(a, b) == 0.0
    assert mask_iou(a, a) == 1.0
    b[1:3] = True
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    assert mask_iou(a, b) == mask_iou(b, a)
