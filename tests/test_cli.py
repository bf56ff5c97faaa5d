"""`main.py run` as a user runs it: a subprocess, real files, exit codes and messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from diffusion.types import ModelFamily
from nodes.png_files import read_png_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base(make_app_dir) -> Path:
    return make_app_dir({"tiny.safetensors": ModelFamily.SD1}, name="cli")


def run_cli(base: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SD_STUDIO_DEVICE": "cpu"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "run", *args, "--base-dir", str(base)],
                          capture_output=True, text=True, env=env, cwd=base, timeout=300)


def small_workflow(base: Path) -> Path:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "tiny.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"]["steps"] = 3
    path = base / "small.json"
    path.write_text(json.dumps(prompt))
    return path


def test_run_with_overrides_writes_png_and_prints_its_path(base):
    workflow = small_workflow(base)
    out = base / "out"
    proc = run_cli(base, str(workflow), "--set", "6.text=a red circle", "--set", "3.seed=7",
                   "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = Path(proc.stdout.strip().splitlines()[-1])
    assert printed.exists() and printed.parent == out
    prompt = json.loads(read_png_text(printed)["prompt"])
    assert prompt["6"]["inputs"]["text"] == "a red circle"
    assert prompt["3"]["inputs"]["seed"] == 7
    assert "100%" in proc.stderr  # the progress bar ran to the end

    again = run_cli(base, str(workflow), "--output-dir", str(out), "--set", "3.seed=7")
    assert again.returncode == 0
    second = Path(again.stdout.strip().splitlines()[-1])
    assert second != printed and printed.exists()  # never overwritten

    # a PNG we wrote runs again as a workflow
    from_png = run_cli(base, str(printed), "--output-dir", str(out))
    assert from_png.returncode == 0, from_png.stderr
    assert Image.open(Path(from_png.stdout.strip().splitlines()[-1])).size == (64, 64)


def test_invalid_workflow_exits_non_zero_with_per_node_messages(base):
    workflow = small_workflow(base)
    proc = run_cli(base, str(workflow), "--set", "3.steps=0", "--set", "3.sampler_name=nope",
                   "--set", "4.ckpt_name=missing.safetensors")
    assert proc.returncode == 2
    assert "node 3 (KSampler)" in proc.stderr and "value_smaller_than_min" in proc.stderr
    assert "value_not_in_list" in proc.stderr
    assert "node 4 (CheckpointLoaderSimple)" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--set", "99.seed=1"], "has no node '99'"),
    (["--set", "3.nope=1"], "has no input 'nope'"),
    (["--set", "3seed=1"], "expected NODE.INPUT=VALUE"),
])
def test_bad_overrides_are_explained(base, args, message):
    proc = run_cli(base, str(small_workflow(base)), *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_unreadable_files_are_explained(base):
    (base / "broken.json").write_text("{not json")
    proc = run_cli(base, str(base / "broken.json"))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    (base / "ui.json").write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    proc = run_cli(base, str(base / "ui.json"))
    assert proc.returncode == 2 and "UI-format" in proc.stderr
    proc = run_cli(base, str(base / "absent.json"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_runtime_failure_exits_one_with_the_node(base):
    workflow = small_workflow(base)
    (base / "models" / "checkpoints" / "bad.safetensors").write_bytes(b"garbage")
    proc = run_cli(base, str(workflow), "--set", "4.ckpt_name=bad.safetensors")
    assert proc.returncode == 1
    assert "error in node 4 (CheckpointLoaderSimple)" in proc.stderr
