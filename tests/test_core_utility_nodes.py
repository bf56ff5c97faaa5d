"""ComfyUI's utility core nodes: masks, compositing, blend modes, YUV, alpha, latent
arithmetic, strings and regexes, primitives, the lazy switch and PreviewAny, checked against
values worked out by hand and run through the executor where the graph matters."""
from __future__ import annotations

import pytest
import torch

from nodes import image_ops, latent_math, mask_ops, primitive_nodes, string_nodes


def _run(node_cls, **inputs):
    return node_cls().execute(None, **inputs)


@pytest.fixture(scope="module")
def folders(make_folders):
    """Empty app folders, no models; `executor` (tests/conftest.py) runs on them."""
    return make_folders()


# --- masks -------------------------------------------------------------------------------

def test_mask_image_round_trip_and_channels():
    mask = torch.rand(2, 5, 7)
    (image,) = _run(mask_ops.MaskToImage, mask=mask)
    assert image.shape == (2, 5, 7, 3) and torch.equal(image[..., 1], mask)
    rgba = torch.rand(1, 4, 4, 4)
    (alpha,) = _run(mask_ops.ImageToMask, image=rgba, channel="alpha")
    assert torch.equal(alpha, rgba[..., 3])
    (solid,) = _run(mask_ops.SolidMask, value=0.25, width=6, height=3)
    assert solid.shape == (1, 3, 6) and torch.all(solid == 0.25)
    (inverted,) = _run(mask_ops.InvertMask, mask=solid)
    assert torch.all(inverted == 0.75)
    (crop,) = _run(mask_ops.CropMask, mask=mask, x=2, y=1, width=3, height=2)
    assert torch.equal(crop, mask[:, 1:3, 2:5])


@pytest.mark.parametrize("operation,expected", [
    ("multiply", [0.7 * 0.2, 1.0]), ("add", [0.9, 1.0]), ("subtract", [0.5, 0.0]),
    ("and", [0.0, 1.0]), ("or", [1.0, 1.0]), ("xor", [1.0, 0.0]),
])
def test_mask_composite_operations(operation, expected):
    destination = torch.tensor([[[0.7, 1.0, 0.3]]])
    source = torch.tensor([[[0.2, 1.0]]])
    (out,) = _run(mask_ops.MaskComposite, destination=destination, source=source, x=0, y=0, operation=operation)
    assert out[0, 0, :2].tolist() == pytest.approx(expected)
    assert out[0, 0, 2].item() == pytest.approx(0.3)  # outside the source: unchanged


def test_mask_composite_offset_clips_at_the_edge():
    destination = torch.zeros(1, 4, 4)
    (out,) = _run(mask_ops.MaskComposite, destination=destination, source=torch.ones(1, 3, 3), x=2, y=3,
                  operation="add")
    expected = torch.zeros(1, 4, 4)
    expected[:, 3:, 2:] = 1.0
    assert torch.equal(out, expected)


def test_grow_and_shrink_mask():
    mask = torch.zeros(1, 7, 7)
    mask[0, 3, 3] = 1.0
    (square,) = _run(mask_ops.GrowMask, mask=mask, expand=1, tapered_corners=False)
    assert square.sum().item() == 9 and square[0, 2:5, 2:5].min().item() == 1.0
    (plus,) = _run(mask_ops.GrowMask, mask=mask, expand=1, tapered_corners=True)
    assert plus.sum().item() == 5 and plus[0, 2, 2].item() == 0.0
    (back,) = _run(mask_ops.GrowMask, mask=square, expand=-1, tapered_corners=False)
    assert torch.equal(back, mask)


def test_feather_mask_ramps_to_the_edges():
    (out,) = _run(mask_ops.FeatherMask, mask=torch.ones(1, 4, 8), left=4, top=0, right=2, bottom=0)
    assert out[0, 0].tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 0.5])


# --- images ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,expected", [
    ("normal", 0.8), ("multiply", 0.2 * 0.8), ("screen", 1 - 0.8 * 0.2),
    ("overlay", 2 * 0.2 * 0.8), ("difference", 0.0),
])
def test_image_blend_modes(mode, expected):
    a, b = torch.full((1, 2, 2, 3), 0.2), torch.full((1, 2, 2, 3), 0.8)
    (out,) = _run(image_ops.ImageBlend, image1=a, image2=b, blend_factor=1.0, blend_mode=mode)
    assert out.flatten()[0].item() == pytest.approx(expected)
    (half,) = _run(image_ops.ImageBlend, image1=a, image2=b, blend_factor=0.5, blend_mode="normal")
    assert half.flatten()[0].item() == pytest.approx(0.5)


def test_blur_keeps_flat_images_and_spreads_a_point():
    flat = torch.full((1, 9, 9, 3), 0.4)
    (out,) = _run(image_ops.ImageBlur, image=flat, blur_radius=2, sigma=1.0)
    assert torch.allclose(out, flat, atol=1e-6)
    point = torch.zeros(1, 9, 9, 1)
    point[0, 4, 4, 0] = 1.0
    (spread,) = _run(image_ops.ImageBlur, image=point, blur_radius=2, sigma=1.0)
    assert spread.sum().item() == pytest.approx(1.0, abs=1e-5) and 0 < spread[0, 4, 4, 0].item() < 1
    (sharp,) = _run(image_ops.ImageSharpen, image=flat, sharpen_radius=1, sigma=1.0, alpha=1.0)
    assert torch.allclose(sharp, flat, atol=1e-5)


def test_yuv_round_trip():
    image = torch.rand(2, 6, 5, 3)
    y, u, v = _run(image_ops.ImageRGBToYUV, image=image)
    assert y.shape == (2, 6, 5, 3)
    (back,) = _run(image_ops.ImageYUVToRGB, Y=y, U=u, V=v)
    assert torch.allclose(back, image, atol=2e-3)


def test_split_and_join_alpha():
    rgba = torch.rand(1, 4, 4, 4)
    rgb, mask = _run(image_ops.SplitImageWithAlpha, image=rgba)
    assert torch.equal(rgb, rgba[..., :3])
    assert torch.allclose(mask, 1.0 - rgba[..., 3])  # 1 = transparent, as LoadImage's mask
    (joined,) = _run(image_ops.JoinImageWithAlpha, image=rgb, alpha=mask)
    assert torch.allclose(joined, rgba, atol=1e-6)


def test_image_composite_masked_and_total_pixels():
    destination, source = torch.zeros(1, 8, 8, 3), torch.ones(1, 4, 4, 3)
    mask = torch.zeros(1, 4, 4)
    mask[:, :, :2] = 1.0
    (out,) = _run(image_ops.ImageCompositeMasked, destination=destination, source=source, x=2, y=2,
                  resize_source=False, mask=mask)
    assert out[0, 2:6, 2:4].min().item() == 1.0 and out[0, 2:6, 4:6].max().item() == 0.0
    assert out.sum().item() == 4 * 2 * 3
    (scaled,) = _run(image_ops.ImageScaleToTotalPixels, image=torch.rand(1, 100, 200, 3),
                     upscale_method="bilinear", megapixels=0.02, resolution_steps=1)
    height, width = scaled.shape[1:3]
    assert abs(width / height - 2) < 0.05 and abs(width * height - 0.02 * 1024 * 1024) < 400


# --- latents -----------------------------------------------------------------------------

def _latent(samples: torch.Tensor) -> dict:
    return {"samples": samples}


def test_latent_arithmetic():
    a, b = torch.rand(1, 4, 8, 8), torch.rand(1, 4, 4, 4)
    (total,) = _run(latent_math.LatentAdd, samples1=_latent(a), samples2=_latent(a))
    assert torch.allclose(total["samples"], 2 * a)
    (diff,) = _run(latent_math.LatentSubtract, samples1=_latent(a), samples2=_latent(b))
    assert diff["samples"].shape == a.shape  # samples2 resized to samples1
    (times,) = _run(latent_math.LatentMultiply, samples=_latent(a), multiplier=-0.5)
    assert torch.allclose(times["samples"], -0.5 * a)
    (same,) = _run(latent_math.LatentInterpolate, samples1=_latent(a), samples2=_latent(torch.rand(1, 4, 8, 8)),
                   ratio=1.0)
    assert torch.allclose(same["samples"], a, atol=1e-5)


def test_latent_batch_concat_and_cut():
    a, b = torch.rand(2, 4, 8, 8), torch.rand(1, 4, 8, 8)
    (batch,) = _run(latent_math.LatentBatch, samples1=_latent(a), samples2=_latent(b))
    assert batch["samples"].shape[0] == 3 and torch.equal(batch["samples"][2], b[0])
    (wide,) = _run(latent_math.LatentConcat, samples1=_latent(a), samples2=_latent(a), dim="x")
    assert wide["samples"].shape == (2, 4, 8, 16)
    (cut,) = _run(latent_math.LatentCut, samples=wide, dim="x", index=-8, amount=8)
    assert torch.equal(cut["samples"], a)
    (fixed,) = _run(latent_math.LatentBatchSeedBehavior, samples=batch, seed_behavior="fixed")
    assert "batch_index" in fixed and len(set(fixed["batch_index"])) == 1


def test_latent_composite_masked_pastes_at_pixel_offsets():
    destination, source = torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 2, 2)
    (out,) = _run(latent_math.LatentCompositeMasked, destination=_latent(destination), source=_latent(source),
                  x=16, y=8, resize_source=False)
    assert out["samples"][0, :, 1:3, 2:4].min().item() == 1.0 and out["samples"].sum().item() == 16


# --- strings, primitives, switch, preview ---------------------------------------------------

def test_string_nodes():
    assert _run(string_nodes.StringConcatenate, string_a="a", string_b="b", delimiter=", ") == ("a, b",)
    assert _run(string_nodes.StringSubstring, string="abcdef", start=1, end=-1) == ("bcde",)
    assert _run(string_nodes.StringLength, string="héllo") == (5,)
    assert _run(string_nodes.CaseConverter, string="a red CAT", mode="Title Case") == ("A Red Cat",)
    assert _run(string_nodes.StringTrim, string="  x  ", mode="Left") == ("x  ",)
    assert _run(string_nodes.StringReplace, string="a.b.c", find=".", replace="-") == ("a-b-c",)
    assert _run(string_nodes.StringContains, string="Red Cat", substring="cat", case_sensitive=False) == (True,)
    assert _run(string_nodes.StringCompare, string_a="prefix-x", string_b="prefix", mode="Starts With",
                case_sensitive=True) == (True,)


def test_regex_nodes():
    assert _run(string_nodes.RegexMatch, string="Seed 42", regex_pattern=r"seed \d+", case_insensitive=True,
                multiline=False, dotall=False) == (True,)
    assert _run(string_nodes.RegexMatch, string="x", regex_pattern="(", case_insensitive=True,
                multiline=False, dotall=False) == (False,)
    assert _run(string_nodes.RegexExtract, string="w=512 h=768", regex_pattern=r"h=(\d+)", mode="First Group",
                case_insensitive=True, multiline=False, dotall=False, group_index=1) == ("768",)
    assert _run(string_nodes.RegexExtract, string="a1 b2", regex_pattern=r"\d", mode="All Matches",
                case_insensitive=True, multiline=False, dotall=False, group_index=1) == ("1\n2",)
    assert _run(string_nodes.RegexReplace, string="cat cat cat", regex_pattern="cat", replace="dog",
                count=2) == ("dog dog cat",)


def test_primitives_switch_and_preview_through_the_executor(executor):
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": "chosen"}},
        # The false branch would fail if it ran: "(" is not a valid pattern.
        "3": {"class_type": "RegexReplace", "inputs": {"string": "x", "regex_pattern": "(", "replace": ""}},
        "4": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "5": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["4", 0], "on_true": ["2", 0],
                                                           "on_false": ["3", 0]}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "7": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["6"]["text"] == ["chosen"]
    assert result.outputs["7"]["text"] == ["7"]
    assert "3" not in result.executed  # the branch not taken is never computed


def test_preview_any_text_forms():
    assert primitive_nodes.as_text(None) == "None"
    assert primitive_nodes.as_text(1.5) == "1.5"
    assert primitive_nodes.as_text({"a": [1, 2]}).replace(" ", "").replace("\n", "") == '{"a":[1,2]}'
    assert isinstance(primitive_nodes.as_text(torch.zeros(1)), str)


# --- latent and output files -----------------------------------------------------------------

def test_save_and_load_latent_files(executor):
    from safetensors.torch import save_file

    folders = executor.folders
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 32, "batch_size": 2}},
              "2": {"class_type": "LatentMultiply", "inputs": {"samples": ["1", 0], "multiplier": 1.0}},
              "3": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "latents/test"}},
              "4": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 0], "filename_prefix": "latents/test"}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    records = [result.outputs[n]["latents"][0] for n in ("3", "4")]
    assert {r["filename"] for r in records} == {"test_00001_.latent", "test_00002_.latent"}
    assert all(r["subfolder"] == "latents" and r["type"] == "output" for r in records)
    saved = folders.output / "latents" / "test_00001_.latent"
    folders.input.mkdir(parents=True, exist_ok=True)
    (folders.input / "kept.latent").write_bytes(saved.read_bytes())
    legacy = torch.full((1, 4, 2, 2), 0.18215)
    save_file({"latent_tensor": legacy}, str(folders.input / "legacy.latent"))
    loaded = executor.run({"5": {"class_type": "LoadLatent", "inputs": {"latent": "kept.latent"}},
                           "6": {"class_type": "LoadLatent", "inputs": {"latent": "legacy.latent"}},
                           "7": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
                           "8": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}}})
    assert loaded.status == "success", loaded.error
    from tests.test_custom_sampling import _output

    kept = _output(executor, {"5": {"class_type": "LoadLatent", "inputs": {"latent": "kept.latent"}},
                              "7": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}}}, "5")
    assert kept["samples"].shape == (2, 4, 4, 8) and torch.all(kept["samples"] == 0)
    old = _output(executor, {"6": {"class_type": "LoadLatent", "inputs": {"latent": "legacy.latent"}},
                             "8": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}}}, "6")
    assert torch.allclose(old["samples"], torch.ones(1, 4, 2, 2))
    invalid = executor.plans.get({"5": {"class_type": "LoadLatent", "inputs": {"latent": "../escape.latent"}}},
                                 executor.registry, folders)
    assert not invalid.checked.ok


def test_load_image_output_reads_a_saved_result(executor):
    from tests.test_custom_sampling import _output

    image = torch.rand(1, 8, 8, 3)
    folders = executor.folders
    from nodes.png_files import save_images

    record = save_images(image, folders.output, "result")[0]
    name = f"{record['filename']} [output]"
    loaded = _output(executor, {"1": {"class_type": "LoadImageOutput", "inputs": {"image": name}},
                                "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}, "1")
    assert torch.allclose(loaded, image, atol=1 / 255)
