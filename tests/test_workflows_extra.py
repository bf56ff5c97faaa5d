"""The shipped hires-fix / inpaint / outpaint workflows, two-stage sampling and CLIP skip;
every shipped template queued on a fresh server, with the example pictures it provides."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.loader import load_checkpoint
from diffusion.types import ModelFamily
from executor.run import Executor
from nodes.folders import Folders
from server.example_inputs import EXAMPLES
from tests.server_support import async_test, make_client, queue_prompt, wait_for_history
from tests.tiny_models import write_tiny_checkpoint

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
NEW = ("hires_fix.json", "inpaint.json", "outpaint.json")
SHIPPED = sorted(WORKFLOWS.glob("*.json"))


@pytest.fixture(scope="module")
def folders(make_folders) -> Folders:
    folders = make_folders({"sd1.safetensors": ModelFamily.SD1}, input=True)
    rgba = np.full((64, 64, 4), 255, dtype=np.uint8)
    rgba[16:48, 16:48, :3] = (30, 30, 220)
    rgba[20:30, 20:30, 3] = 0
    Image.fromarray(rgba, "RGBA").save(folders.input / "example.png")
    return folders


def _load(name: str) -> dict:
    prompt = json.loads((WORKFLOWS / name).read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "sd1.safetensors"
    for node in prompt.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 3
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=64, height=64)
    return prompt


@pytest.mark.parametrize("name", NEW)
def test_new_workflows_are_api_format_and_validate(folders, name):
    prompt = json.loads((WORKFLOWS / name).read_text())
    default = json.loads((WORKFLOWS / "txt2img.json").read_text())["4"]["inputs"]["ckpt_name"]
    assert prompt["4"]["inputs"]["ckpt_name"] == default
    assert all("class_type" in node and "inputs" in node for node in prompt.values())
    _, checked = Executor(folders).validate(_load(name))
    assert checked.ok and not checked.node_errors, checked.node_errors


def test_hires_fix_runs_end_to_end(folders):
    result = Executor(folders).run(_load("hires_fix.json"))
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    assert Image.open(folders.output / record["subfolder"] / record["filename"]).size == (96, 96)
    prompt = json.loads((WORKFLOWS / "hires_fix.json").read_text())
    assert prompt["12"]["class_type"] in ("LatentUpscale", "LatentUpscaleBy")
    assert prompt["13"]["class_type"] == "KSampler" and 0.3 <= prompt["13"]["inputs"]["denoise"] <= 0.7


def test_outpaint_runs_end_to_end(folders):
    result = Executor(folders).run(_load("outpaint.json"))
    assert result.status == "success", result.error
    record = result.outputs["9"]["images"][0]
    assert Image.open(folders.output / record["subfolder"] / record["filename"]).size == (128, 64)


def test_inpaint_runs_end_to_end(folders):
    result = Executor(folders).run(_load("inpaint.json"))
    assert result.status == "success", result.error


def _quicker(prompt: dict) -> dict:
    """Only what costs time gets smaller (image size, steps); every name a template gives
    (checkpoint, input pictures, detectors, swappers) stays as shipped."""
    for node in prompt.values():
        if node["class_type"] in ("KSampler", "FaceDetailer", "DetailerForEach"):
            node["inputs"]["steps"] = 2
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=64, height=64)
    return prompt


@async_test
async def test_every_shipped_template_runs_on_its_first_queue_on_a_fresh_server(tmp_path):
    default_model = json.loads((WORKFLOWS / "txt2img.json").read_text())["4"]["inputs"]["ckpt_name"]
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / default_model)  # stands in for the built-in model
    async with make_client(tmp_path, registry=None) as client:
        for name in ("example.png", "face.png"):
            assert (tmp_path / "input" / name).read_bytes() == (EXAMPLES / name).read_bytes()
        for path in SHIPPED:
            prompt = _quicker(json.loads(path.read_text()))
            queued = await queue_prompt(client, prompt)
            entry = await wait_for_history(client, queued["prompt_id"], timeout=40)
            assert entry["status"]["status_str"] == "success", (path.name, entry["status"])
            assert any(out.get("images") for out in entry["outputs"].values()), path.name


@async_test
async def test_example_pictures_never_replace_the_users_own(tmp_path):
    (tmp_path / "input").mkdir()
    mine = io.BytesIO()
    Image.new("RGB", (20, 10), "green").save(mine, format="PNG")
    (tmp_path / "input" / "example.png").write_bytes(mine.getvalue())
    async with make_client(tmp_path):
        assert (tmp_path / "input" / "example.png").read_bytes() == mine.getvalue()
        assert (tmp_path / "input" / "face.png").read_bytes() == (EXAMPLES / "face.png").read_bytes()
    (tmp_path / "input" / "face.png").unlink()  # a file the user removed comes back at the next start
    async with make_client(tmp_path):
        assert (tmp_path / "input" / "face.png").is_file()
        assert (tmp_path / "input" / "example.png").read_bytes() == mine.getvalue()


def test_the_example_pictures_are_small_pngs_the_built_in_model_can_work_on():
    for name in ("example.png", "face.png"):
        path = EXAMPLES / name
        assert path.stat().st_size < 100_000
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.size == (128, 128) and picture.mode == "RGB"


@pytest.mark.parametrize("family", list(ModelFamily))
def test_clip_set_last_layer_is_honoured_for_every_family(tmp_path, family):
    from nodes.conditioning import CLIPSetLastLayer, CLIPTextEncode

    path = write_tiny_checkpoint(tmp_path, family)
    clip = load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32).clip
    encode = CLIPTextEncode().execute
    default = encode(None, "a red circle", clip)[0][0][0]
    last = encode(None, "a red circle", CLIPSetLastLayer().execute(None, clip, -1)[0])[0][0][0]
    skip = encode(None, "a red circle", CLIPSetLastLayer().execute(None, clip, -2)[0])[0][0][0]
    assert not torch.allclose(last, skip)
    # SD1 defaults to the last layer, SD2 and SDXL to the penultimate one, as in ComfyUI
    assert torch.equal(default, last if family == ModelFamily.SD1 else skip)
    assert clip.layer_idx is None  # the input CLIP is untouched
