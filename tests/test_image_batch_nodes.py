"""Image geometry, batching, rebatching, Porter-Duff compositing, quantising and the
Resize Image/Mask node, against values worked out by hand; the growing-input batch nodes
and the list-taking rebatch nodes through the executor."""
from __future__ import annotations

import pytest
import torch

from nodes import batch_nodes, image_transform


def _run(node_cls, **inputs):
    return node_cls().execute(None, **inputs)


@pytest.fixture(scope="module")
def folders(make_folders):
    """Empty app folders, no models; `executor` (tests/conftest.py) runs on them."""
    return make_folders()


def _ramp(batch: int = 2, height: int = 4, width: int = 6) -> torch.Tensor:
    return torch.arange(batch * height * width * 3, dtype=torch.float32).reshape(batch, height, width, 3) / 1000


def test_batch_picking_and_repeating():
    image = _ramp(3)
    (repeated,) = _run(image_transform.RepeatImageBatch, image=image[:2], amount=2)
    assert torch.equal(repeated, torch.cat([image[:2], image[:2]]))
    (picked,) = _run(image_transform.ImageFromBatch, image=image, batch_index=-2, length=5)
    assert torch.equal(picked, image[1:])
    (noisy,) = _run(image_transform.ImageAddNoise, image=image, seed=4, strength=0.5)
    (again,) = _run(image_transform.ImageAddNoise, image=image, seed=4, strength=0.5)
    assert torch.equal(noisy, again) and not torch.equal(noisy, image) and noisy.min() >= 0 and noisy.max() <= 1


def test_rotate_flip_and_size():
    image = _ramp(1)
    (turned,) = _run(image_transform.ImageRotate, image=image, rotation="90 degrees")
    assert turned.shape == (1, 6, 4, 3)
    assert torch.equal(turned[0, 0, 0], image[0, 3, 0])  # clockwise: the bottom-left corner goes top-left
    (back,) = _run(image_transform.ImageRotate, image=turned, rotation="270 degrees")
    assert torch.equal(back, image)
    (flipped,) = _run(image_transform.ImageFlip, image=image, flip_method="y-axis: horizontally")
    assert torch.equal(flipped[0, :, 0], image[0, :, -1])
    out = _run(image_transform.GetImageSize, image=image)
    assert out.result == (6, 4, 1) and "width: 6" in out.ui["text"][0]
    (scaled,) = _run(image_transform.ImageScaleToMaxDimension, image=_ramp(1, 10, 20), upscale_method="bilinear",
                     largest_size=40)
    assert scaled.shape == (1, 20, 40, 3)


def test_stitch_and_pad():
    left, right = torch.zeros(1, 4, 4, 3), torch.ones(2, 2, 3, 3)
    (stitched,) = _run(image_transform.ImageStitch, image1=left, direction="right", match_image_size=False,
                       spacing_width=2, spacing_color="red", image2=right)
    assert stitched.shape == (2, 4, 9, 3)
    assert stitched[0, 0, 4].tolist() == [1.0, 0.0, 0.0]  # the red gap
    assert stitched[0, 0, 6].tolist() == [0.0, 0.0, 0.0]  # padding above the smaller image (white only if asked)
    assert stitched[0, 1, 6].tolist() == [1.0, 1.0, 1.0]
    (matched,) = _run(image_transform.ImageStitch, image1=left, direction="down", match_image_size=True,
                      spacing_width=0, spacing_color="white", image2=torch.ones(1, 2, 8, 3))
    assert matched.shape == (1, 5, 4, 3)  # 8x2 scaled to the width 4: 4x1
    (padded,) = _run(image_transform.ResizeAndPadImage, image=torch.zeros(1, 10, 20, 3), target_width=40,
                     target_height=40, padding_color="white", interpolation="area")
    assert padded.shape == (1, 40, 40, 3)
    assert padded[0, 0, 0, 0] == 1.0 and padded[0, 20, 20, 0] == 0.0 and padded[0, 9, 0, 0] == 1.0


@pytest.mark.parametrize("mode,colour,alpha", [
    ("SRC_OVER", 0.8, 1.0), ("DST_OVER", 0.2, 1.0), ("SRC", 0.8, 0.5), ("DST", 0.2, 1.0),
    ("SRC_IN", 0.8, 0.5), ("CLEAR", 0.0, 0.0), ("XOR", 0.2, 0.5),
])
def test_porter_duff_modes(mode, colour, alpha):
    source, destination = torch.full((1, 2, 2, 3), 0.8), torch.full((1, 2, 2, 3), 0.2)
    source_mask, destination_mask = torch.full((1, 2, 2), 0.5), torch.zeros(1, 2, 2)  # 1 = transparent
    image, mask = _run(batch_nodes.PorterDuffImageComposite, source=source, source_alpha=source_mask,
                       destination=destination, destination_alpha=destination_mask, mode=mode)
    if mode == "SRC_OVER":
        colour = (0.8 * 0.5 + 0.2 * 0.5) / 1.0  # premultiplied over, then divided by the alpha
    assert image[0, 0, 0, 0].item() == pytest.approx(colour, abs=1e-5)
    assert (1 - mask[0, 0, 0]).item() == pytest.approx(alpha, abs=1e-5)


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "bayer-4"])
def test_quantize_keeps_to_the_palette(dither):
    gradient = torch.linspace(0, 1, 32).reshape(1, 1, 32, 1).expand(1, 8, 32, 3).clone()
    (out,) = _run(batch_nodes.ImageQuantize, image=gradient, colors=4, dither=dither)
    assert out.shape == gradient.shape
    assert len({tuple(p) for p in out.reshape(-1, 3).tolist()}) <= 4
    assert (out - gradient).abs().mean() < 0.2


def test_resize_image_mask_rules():
    image, mask = torch.rand(1, 30, 40, 3), torch.rand(2, 30, 40)

    def run(x, kind, **options):
        return _run(batch_nodes.ResizeImageMaskNode, input=x, resize_type=kind, scale_method="bilinear",
                    **{f"resize_type.{k}": v for k, v in options.items()})[0]

    assert run(image, "scale dimensions", width=20, height=0, crop="disabled").shape == (1, 15, 20, 3)
    assert run(image, "scale dimensions", width=16, height=16, crop="center").shape == (1, 16, 16, 3)
    assert run(mask, "scale by multiplier", multiplier=0.5).shape == (2, 15, 20)
    assert run(image, "scale shorter dimension", shorter_size=60).shape == (1, 60, 80, 3)
    assert run(image, "scale longer dimension", longer_size=20).shape == (1, 15, 20, 3)
    assert run(mask, "scale total pixels", megapixels=0.01).shape[1:] == (89, 118)
    assert run(mask, "match size", match=image[:, :10, :12], crop="disabled").shape == (2, 10, 12)
    assert run(image, "scale to multiple", multiple=16).shape == (1, 16, 32, 3)
    assert torch.equal(run(image, "scale width", width=0), image)


def test_batch_nodes_take_growing_inputs(executor):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 2, "color": 0xFFFFFF}},
        "3": {"class_type": "BatchImagesNode", "inputs": {"images.image0": ["1", 0], "images.image1": ["2", 0],
                                                          "images.image2": ["1", 0]}},
        "4": {"class_type": "GetImageSize", "inputs": {"image": ["3", 0]}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 2]}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}},
    }
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["5"]["text"] == ["4"] and result.outputs["6"]["text"] == ["8"]
    latents = batch_nodes.batch_latents([{"samples": torch.zeros(1, 4, 2, 2)}, {"samples": torch.ones(2, 4, 4, 4)}])
    assert latents["samples"].shape == (3, 4, 2, 2) and latents["batch_index"] == [0, 0, 1]
    masks = batch_nodes.batch_masks([torch.zeros(1, 4, 4), torch.ones(4, 4)])
    assert masks.shape == (2, 4, 4) and masks[1].min() == 1


def test_rebatch_latents_and_images():
    latents = [{"samples": torch.zeros(3, 4, 2, 2)}, {"samples": torch.ones(2, 4, 2, 2)},
               {"samples": torch.ones(1, 4, 3, 3)}]
    out = batch_nodes.rebatch_latents(latents, 2)
    assert [o["samples"].shape[0] for o in out] == [2, 2, 1, 1]
    assert [o["batch_index"] for o in out] == [[0, 1], [2, 3], [4], [5]]
    assert all("noise_mask" not in o for o in out)
    assert out[-1]["samples"].shape[-1] == 3  # a new size starts a new batch
    (images,) = _run(batch_nodes.RebatchImages, images=[torch.zeros(3, 2, 2, 3), torch.ones(2, 2, 2, 3)],
                     batch_size=[4])
    assert [i.shape[0] for i in images] == [4, 1] and images[0][3].min() == 1


def test_a_node_may_take_an_input_named_input(executor):
    """ComfyUI's ModelMergeBlocks and ResizeImageMaskNode have an input called "input"."""
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ResizeImageMaskNode", "inputs": {"input": ["1", 0], "resize_type": "scale by multiplier",
                                                              "resize_type.multiplier": 2.0, "scale_method": "area"}},
        "3": {"class_type": "GetImageSize", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["4"]["text"] == ["64"]


def test_inputs_comfyui_added_later_get_their_defaults(executor):
    """API prompts saved by older ComfyUI versions lack inputs added since (the example
    workflows' VAEEncodeForInpaint.grow_mask_by, CLIPVisionEncode.crop, SDTurboScheduler.denoise)."""
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "missing.safetensors"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "3": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 32, "height": 32}},
        "4": {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["2", 0], "vae": ["1", 2], "mask": ["3", 0]}},
        "5": {"class_type": "SDTurboScheduler", "inputs": {"model": ["1", 0], "steps": 1}},
        "6": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["7", 0], "image": ["2", 0]}},
        "7": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "missing.safetensors"}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}},
        "9": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "10": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}},
    }
    checked = executor.plans.get(prompt, executor.registry, executor.folders).checked
    missing = [(node, e["details"]) for node, entry in checked.node_errors.items() for e in entry["errors"]
               if e["type"] == "required_input_missing"]
    assert missing == [] and set(checked.node_errors) == {"1", "7"}  # only the absent model files
