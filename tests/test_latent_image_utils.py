"""Latent and image utility nodes as plain calls, and tiled VAE decode/encode."""
from __future__ import annotations

import pytest
import torch

from diffusion.loader import load_checkpoint
from diffusion.tiling import tile_starts, tiled_map
from diffusion.types import ModelFamily
from nodes import image_utils, latent_utils, vae_nodes
from tests.tiny_models import write_tiny_checkpoint


def _latent(batch=2, h=8, w=8, seed=0) -> dict:
    return {"samples": torch.randn(batch, 4, h, w, generator=torch.Generator().manual_seed(seed))}


def test_latent_composite_pastes_and_feathers():
    to, src = _latent(1, 8, 8, 0), _latent(1, 4, 4, 1)
    out = latent_utils.LatentComposite().execute(None, to, src, x=16, y=8, feather=0)[0]["samples"]
    assert torch.equal(out[..., 1:5, 2:6], src["samples"])
    assert torch.equal(out[..., 5:, :], to["samples"][..., 5:, :])
    feathered = latent_utils.LatentComposite().execute(None, to, src, x=16, y=8, feather=16)[0]["samples"]
    # the top row is half pasted (feather 2 latent rows: weights 1/2, 2/2) and the corner a quarter
    torch.testing.assert_close(feathered[..., 1, 3], 0.5 * src["samples"][..., 0, 1] + 0.5 * to["samples"][..., 1, 3])
    torch.testing.assert_close(feathered[..., 1, 2], 0.25 * src["samples"][..., 0, 0] + 0.75 * to["samples"][..., 1, 2])
    assert torch.equal(feathered[..., 2:4, 3:5], src["samples"][..., 1:3, 1:3])
    clipped = latent_utils.LatentComposite().execute(None, to, _latent(1, 8, 8, 2), x=48, y=48, feather=0)[0]
    assert clipped["samples"].shape == (1, 4, 8, 8)


def test_latent_blend_batch_repeat_crop_flip_rotate():
    a, b = _latent(2, 8, 8, 0), _latent(2, 8, 8, 1)
    blend = latent_utils.LatentBlend().execute(None, a, b, blend_factor=0.25)[0]["samples"]
    torch.testing.assert_close(blend, a["samples"] * 0.25 + b["samples"] * 0.75)
    picked = latent_utils.LatentFromBatch().execute(None, a, batch_index=1, length=5)[0]["samples"]
    assert torch.equal(picked, a["samples"][1:2])
    masked = dict(a, noise_mask=torch.rand(2, 1, 64, 64))
    repeated = latent_utils.RepeatLatentBatch().execute(None, masked, amount=3)[0]
    assert repeated["samples"].shape[0] == 6 and repeated["noise_mask"].shape[0] == 6
    big = _latent(1, 16, 16, 3)
    crop = latent_utils.LatentCrop().execute(None, big, width=64, height=32, x=16, y=8)[0]["samples"]
    assert torch.equal(crop, big["samples"][:, :, 1:5, 2:10])
    # as ComfyUI: the start is clamped so that 8 latent pixels remain
    crop = latent_utils.LatentCrop().execute(None, big, width=64, height=64, x=120, y=0)[0]["samples"]
    assert torch.equal(crop, big["samples"][:, :, 0:8, 8:16])
    flip = latent_utils.LatentFlip().execute(None, a, flip_method="x-axis: vertically")[0]["samples"]
    assert torch.equal(flip[..., 0, :], a["samples"][..., -1, :])
    turned = latent_utils.LatentRotate().execute(None, _latent(1, 4, 6), rotation="90 degrees")[0]["samples"]
    assert turned.shape[-2:] == (6, 4)
    four = a
    for _ in range(4):
        four = latent_utils.LatentRotate().execute(None, four, rotation="90 degrees")[0]
    assert torch.equal(four["samples"], a["samples"])
    src = torch.arange(6.0).view(1, 1, 2, 3)  # 90 degrees clockwise: the left column becomes the top row
    rot = latent_utils.LatentRotate().execute(None, {"samples": src}, rotation="90 degrees")[0]["samples"]
    assert rot[0, 0, 0].tolist() == [3.0, 0.0]


def test_image_utilities():
    image = torch.rand(1, 20, 30, 3)
    crop = image_utils.ImageCrop().execute(None, image, width=10, height=5, x=25, y=2)[0]
    assert torch.equal(crop, image[:, 2:7, 25:30])
    batch = image_utils.ImageBatch().execute(None, image, torch.rand(2, 10, 10, 3))[0]
    assert batch.shape == (3, 20, 30, 3) and torch.equal(batch[0], image[0])
    blank = image_utils.EmptyImage().execute(None, width=4, height=3, batch_size=2, color=0xFF8000)[0]
    assert blank.shape == (2, 3, 4, 3)
    assert blank[0, 0, 0].tolist() == pytest.approx([1.0, 128 / 255, 0.0])
    scaled = image_utils.ImageScaleBy().execute(None, image, upscale_method="bilinear", scale_by=1.5)[0]
    assert scaled.shape == (1, 30, 45, 3)


def test_tile_starts_cover_the_length():
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(24, 8, 2) == [0, 6, 12, 16]
    assert tile_starts(64, 32, 8, align=8) == [0, 24, 32]


def test_tiled_map_of_a_pointwise_function_is_exact():
    x = torch.rand(1, 3, 40, 56)
    out = tiled_map(x, lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2) * 3, 16, 6, 2)
    torch.testing.assert_close(out, (x * 3).repeat_interleave(2, -1).repeat_interleave(2, -2))


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), ModelFamily.SD1)
    return load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32).vae


def test_tiled_decode_matches_untiled_within_tolerance(vae):
    latent = torch.randn(1, 4, 16, 24, generator=torch.Generator().manual_seed(0))
    whole = vae.decode(latent)
    # Each tile normalises (GroupNorm) and attends over itself only, so tiles differ from the
    # whole a little, and less with bigger tiles; seams are blended away.
    tiled = vae_nodes.VAEDecodeTiled().execute(None, {"samples": latent}, vae, tile_size=128, overlap=64)[0]
    assert tiled.shape == whole.shape
    difference = (tiled - whole).abs()
    assert difference.mean() < 0.03 and difference.max() < 0.35, (difference.mean(), difference.max())
    one_tile = vae_nodes.VAEDecodeTiled().execute(None, {"samples": latent}, vae, tile_size=512, overlap=64)[0]
    assert torch.equal(one_tile, whole)


def test_tiled_encode_matches_untiled_within_tolerance(vae):
    gen = torch.Generator().manual_seed(1)
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 24, 32, generator=gen), size=(192, 256),
                                            mode="bilinear").permute(0, 2, 3, 1)
    whole = vae.encode(image)
    tiled = vae_nodes.VAEEncodeTiled().execute(None, image, vae, tile_size=192, overlap=64)[0]["samples"]
    assert tiled.shape == whole.shape
    difference = (tiled - whole).abs()
    assert difference.mean() < 0.1 * whole.abs().mean(), (difference.mean(), whole.abs().mean())
    one_tile = vae_nodes.VAEEncodeTiled().execute(None, image, vae, tile_size=256, overlap=64)[0]["samples"]
    assert torch.equal(one_tile, whole)


def test_latent_from_batch_records_indices_for_the_noise():
    from diffusion.sampling import prepare_noise

    batch = {"samples": torch.zeros(4, 4, 8, 8)}
    picked = latent_utils.LatentFromBatch().execute(None, batch, batch_index=2, length=2)[0]
    assert picked["batch_index"] == [2, 3]
    again = latent_utils.LatentFromBatch().execute(None, picked, batch_index=1, length=1)[0]
    assert again["batch_index"] == [3]
    repeated = latent_utils.RepeatLatentBatch().execute(None, picked, amount=2)[0]
    assert repeated["batch_index"] == [2, 3, 4, 5]
    gen = torch.Generator().manual_seed(9)
    draws = [torch.randn(1, 4, 8, 8, generator=gen) for _ in range(4)]
    assert torch.equal(prepare_noise(picked["samples"], 9, [2, 3]), torch.cat(draws[2:4]))
    assert torch.equal(prepare_noise(batch["samples"], 9), prepare_noise(batch["samples"], 9, None))
