"""Image and latent nodes called as plain functions: no server, no graph."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.context import NodeContext
from nodes.folders import Folders, UnsafePathError, safe_join
from nodes.image_nodes import ImageInvert, ImageScale, LoadImage, PreviewImage, SaveImage
from nodes.latent import EmptyLatentImage, LatentUpscale, LatentUpscaleBy
from nodes.png_files import read_png_text


@pytest.fixture
def ctx(tmp_path):
    folders = Folders.under(tmp_path)
    for folder in (folders.input, folders.output, folders.temp):
        folder.mkdir(parents=True)
    return NodeContext(folders=folders, prompt={"1": {"class_type": "X", "inputs": {}}},
                       extra_pnginfo={"workflow": {"nodes": [], "version": 0.4}})


def test_empty_latent_shape():
    (latent,) = EmptyLatentImage().execute(None, width=512, height=384, batch_size=2)
    assert latent["samples"].shape == (2, 4, 48, 64)
    assert latent["samples"].abs().sum() == 0


def test_latent_upscale_and_by():
    latent = {"samples": torch.randn(1, 4, 8, 8)}
    (bigger,) = LatentUpscale().execute(None, latent, "bilinear", 128, 0, "disabled")
    assert bigger["samples"].shape == (1, 4, 16, 16)  # zero height keeps the aspect
    (by,) = LatentUpscaleBy().execute(None, latent, "nearest-exact", 1.5)
    assert by["samples"].shape == (1, 4, 12, 12)


def test_save_image_never_overwrites_and_embeds_workflow(ctx):
    images = torch.rand(2, 16, 24, 3)
    first = SaveImage().execute(ctx, images, "run/pic").ui["images"]
    second = SaveImage().execute(ctx, images[:1], "run/pic").ui["images"]
    names = [r["filename"] for r in first + second]
    assert names == ["pic_00001_.png", "pic_00002_.png", "pic_00003_.png"]
    assert all(r["subfolder"] == "run" and r["type"] == "output" for r in first)
    path = ctx.folders.output / "run" / "pic_00001_.png"
    text = read_png_text(path)
    assert json.loads(text["prompt"]) == ctx.prompt
    assert json.loads(text["workflow"]) == ctx.extra_pnginfo["workflow"]
    saved = np.asarray(Image.open(path), dtype=np.float32) / 255
    assert np.abs(saved - images[0].numpy()).max() <= 1 / 255 + 1e-6


def test_save_image_skips_a_name_taken_by_someone_else(ctx):
    (ctx.folders.output / "img_00001_.png").write_bytes(b"keep me")
    records = SaveImage().execute(ctx, torch.rand(1, 8, 8, 3), "img").ui["images"]
    assert records[0]["filename"] == "img_00002_.png"
    assert (ctx.folders.output / "img_00001_.png").read_bytes() == b"keep me"


def test_save_image_refuses_prefix_leaving_output(ctx):
    with pytest.raises(UnsafePathError):
        SaveImage().execute(ctx, torch.rand(1, 8, 8, 3), "../escape")


def test_saved_levels_are_truncated_as_comfyui_writes_them(ctx):
    """255 * value cut to an integer: 0.999 is level 254, not 255; out of range clips; NaN is 0."""
    values = torch.tensor([0.0, 0.5, 0.999, 1.0, 1 / 255, 0.0039, -0.2, 1.7, float("nan")])
    image = values.repeat(3, 1).T.reshape(1, 1, len(values), 3)
    for node in (SaveImage(), PreviewImage()):
        args = (ctx, image, "levels") if isinstance(node, SaveImage) else (ctx, image)
        record = node.execute(*args).ui["images"][0]
        path = ctx.folders.by_type(record["type"]) / record["filename"]
        pixels = np.asarray(Image.open(path))[0, :, 0].tolist()
        assert pixels == [0, 127, 254, 255, 1, 0, 0, 255, 0]
    expected = np.clip(255.0 * image[0].numpy(), 0, 255)
    expected[np.isnan(expected)] = 0
    saved = np.asarray(Image.open(ctx.folders.output / "levels_00001_.png"))
    assert (saved == expected.astype(np.uint8)).all()


def test_preview_goes_to_temp(ctx):
    records = PreviewImage().execute(ctx, torch.rand(1, 8, 8, 3)).ui["images"]
    assert records[0]["type"] == "temp"
    assert (ctx.folders.temp / records[0]["filename"]).exists()


def test_load_image_with_alpha_gives_mask(ctx):
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :6, 3] = 255  # left half opaque
    Image.fromarray(rgba, "RGBA").save(ctx.folders.input / "a.png")
    image, mask = LoadImage().execute(ctx, "a.png")
    assert image.shape == (1, 10, 12, 3)
    assert torch.allclose(image[..., 0], torch.ones(1, 10, 12))
    assert mask.shape == (1, 10, 12)
    assert mask[0, :, :6].sum() == 0 and torch.all(mask[0, :, 6:] == 1)


def test_load_image_fingerprint_follows_content(ctx):
    Image.new("RGB", (4, 4), "red").save(ctx.folders.input / "b.png")
    before = LoadImage.fingerprint(ctx.folders, image="b.png")
    Image.new("RGB", (4, 4), "blue").save(ctx.folders.input / "b.png")
    assert LoadImage.fingerprint(ctx.folders, image="b.png") != before


def test_image_scale_and_invert():
    image = torch.rand(1, 10, 20, 3)
    (scaled,) = ImageScale().execute(None, image, "bicubic", 40, 0, "disabled")
    assert scaled.shape == (1, 20, 40, 3)
    (cropped,) = ImageScale().execute(None, image, "area", 10, 10, "center")
    assert cropped.shape == (1, 10, 10, 3)
    (inverted,) = ImageInvert().execute(None, image)
    assert torch.allclose(inverted, 1 - image)


def test_safe_join_refuses_escapes(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "inside" / "link").symlink_to(tmp_path / "secret.txt")
    for bad in ("../secret.txt", "/etc/passwd", "link", "a/../../secret.txt", ""):
        with pytest.raises(UnsafePathError):
            safe_join(tmp_path / "inside", bad)
    assert safe_join(tmp_path / "inside", "ok.png") == (tmp_path / "inside" / "ok.png").resolve()


def test_model_listing_includes_subfolders_and_diffusers_folders(tmp_path):
    folders = Folders.under(tmp_path)
    (folders.models / "checkpoints" / "sub").mkdir(parents=True)
    (folders.models / "checkpoints" / "a.safetensors").write_bytes(b"")
    (folders.models / "checkpoints" / "sub" / "b.ckpt").write_bytes(b"")
    (folders.models / "checkpoints" / "notes.txt").write_text("")
    (folders.models / "checkpoints" / "pipe" / "unet").mkdir(parents=True)
    (folders.models / "checkpoints" / "pipe" / "model_index.json").write_text("{}")
    (folders.models / "checkpoints" / "pipe" / "unet" / "x.safetensors").write_bytes(b"")
    assert folders.list_models("checkpoints") == ["a.safetensors", "pipe", "sub/b.ckpt"]
