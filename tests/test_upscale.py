"""Upscale models (ESRGAN RRDBNet in both key layouts, compact SRVGGNet), tiled, and the nodes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from diffusion.upscale import RRDBNet, SRVGGNetCompact, load_upscale_model
from executor.run import Executor
from nodes.folders import Folders

CPU = torch.device("cpu")


def _perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return module.eval()


def _rrdb(upsamples: int = 2, unshuffle: int = 1) -> RRDBNet:
    return _perturbed(RRDBNet(3, 3, nf=8, nb=2, gc=4, upsamples=upsamples, unshuffle=unshuffle), 0)


def to_old_layout(sd: dict, blocks: int, upsamples: int) -> dict:
    """BasicSR keys -> the original ESRGAN layout (model.0, model.1.sub..., model.3/6/8/10)."""
    tail = {f"conv_up{i + 1}": f"model.{3 + 3 * i}" for i in range(upsamples)}
    tail["conv_hr"] = f"model.{3 + 3 * upsamples - 1}"
    tail["conv_last"] = f"model.{3 + 3 * upsamples + 1}"
    out = {}
    for key, value in sd.items():
        head, _, param = key.rpartition(".")
        if head.startswith("body."):
            _, i, rdb, conv = head.split(".")
            out[f"model.1.sub.{i}.RDB{rdb[-1]}.{conv}.0.{param}"] = value
        elif head == "conv_first":
            out[f"model.0.{param}"] = value
        elif head == "conv_body":
            out[f"model.1.sub.{blocks}.{param}"] = value
        else:
            out[f"{tail[head]}.{param}"] = value
    return out


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 20, 24, 3, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("layout", ["new", "new-wrapped", "old"])
def test_rrdbnet_layouts_load_and_match(tmp_path, image, layout):
    net = _rrdb()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    if layout == "new":
        save_file(sd, str(tmp_path / "m.safetensors"))
        path = tmp_path / "m.safetensors"
    elif layout == "new-wrapped":
        torch.save({"params_ema": sd}, str(tmp_path / "m.pth"))
        path = tmp_path / "m.pth"
    else:
        torch.save(to_old_layout(sd, 2, 2), str(tmp_path / "m.pth"))
        path = tmp_path / "m.pth"
    model = load_upscale_model(path, CPU)
    assert model.scale == 4
    out = model.upscale(image)
    assert out.shape == (1, 80, 96, 3)
    with torch.no_grad():
        reference = net(image.movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    torch.testing.assert_close(out, reference, atol=1e-6, rtol=0)


def test_rrdbnet_x2_with_pixel_unshuffle(tmp_path, image):
    net = _rrdb(upsamples=2, unshuffle=2)
    save_file(net.state_dict(), str(tmp_path / "x2.safetensors"))
    model = load_upscale_model(tmp_path / "x2.safetensors", CPU)
    assert model.scale == 2 and model.upscale(image).shape == (1, 40, 48, 3)


def test_compact_model_adds_the_nearest_upscaled_input(tmp_path, image):
    net = _perturbed(SRVGGNetCompact(3, 3, nf=8, num_conv=3, scale=4, prelu=True), 1)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    save_file(net.state_dict(), str(tmp_path / "compact.safetensors"))
    model = load_upscale_model(tmp_path / "compact.safetensors", CPU)
    assert isinstance(model.module, SRVGGNetCompact) and model.scale == 4
    nearest = image.repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert torch.equal(model.upscale(image), nearest)


def test_tiled_upscale_is_close_to_whole(image):
    from diffusion.upscale import UpscaleModel

    model = UpscaleModel(_rrdb(), CPU)
    big = torch.rand(1, 40, 52, 3, generator=torch.Generator().manual_seed(4))
    whole = model.upscale(big, tile=512)
    tiled = model.upscale(big, tile=24, overlap=8)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.01


def test_upscale_nodes_through_the_executor(tmp_path):
    folders = Folders.under(tmp_path)
    (folders.models / "upscale_models").mkdir(parents=True)
    torch.save({"params_ema": _rrdb().state_dict()}, str(folders.models / "upscale_models" / "4x.pth"))
    folders.input.mkdir(parents=True)
    Image.fromarray(np.full((16, 12, 3), 128, dtype=np.uint8)).save(folders.input / "small.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "small.png"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x.pth"}},
        "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "up"}},
    }
    result = Executor(folders).run(prompt)
    assert result.status == "success", result.error
    record = result.outputs["4"]["images"][0]
    assert Image.open(folders.output / record["subfolder"] / record["filename"]).size == (48, 64)
