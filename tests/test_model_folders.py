"""Model folders as ComfyUI users have them: extra_model_paths.yaml and symlinked models."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from diffusion.types import ModelFamily
from nodes.extra_model_paths import ExtraPathsError, load_extra_model_paths
from nodes.folders import Folders, UnsafePathError
from tests.tiny_models import write_tiny_checkpoint

A1111_AND_COMFY = """
a111:
    base_path: {a1111}
    checkpoints: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    embeddings: embeddings
comfyui:
    base_path: {comfy}
    is_default: true
    checkpoints: models/checkpoints/
    clip: models/clip/
    unet: models/unet
"""


def make_installs(tmp_path: Path) -> tuple[Path, Path]:
    a1111, comfy = tmp_path / "webui", tmp_path / "ComfyUI"
    for folder in ("models/Stable-diffusion", "models/Lora", "models/LyCORIS", "embeddings"):
        (a1111 / folder).mkdir(parents=True)
    for folder in ("models/checkpoints", "models/clip", "models/unet"):
        (comfy / folder).mkdir(parents=True)
    (a1111 / "models/Stable-diffusion/webui.safetensors").write_bytes(b"")
    (a1111 / "models/LyCORIS/lyco.safetensors").write_bytes(b"")
    (comfy / "models/checkpoints/comfy.safetensors").write_bytes(b"")
    return a1111, comfy


def test_both_sections_add_their_folders(tmp_path):
    a1111, comfy = make_installs(tmp_path)
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(A1111_AND_COMFY.format(a1111=a1111, comfy=comfy))
    folders = Folders.under(tmp_path / "app")
    load_extra_model_paths(config, folders)
    assert folders.model_dirs("checkpoints")[0] == comfy / "models" / "checkpoints"  # is_default: searched first
    assert folders.list_models("checkpoints") == ["comfy.safetensors", "webui.safetensors"]
    assert folders.list_models("loras") == ["lyco.safetensors"]
    assert comfy / "models" / "clip" in folders.model_dirs("text_encoders")  # `clip` is text_encoders' old name
    assert comfy / "models" / "unet" in folders.model_dirs("diffusion_models")


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "here" / "ckpts").mkdir(parents=True)
    (tmp_path / "here" / "ckpts" / "x.safetensors").write_bytes(b"")
    config = tmp_path / "here" / "paths.yaml"
    config.write_text("mine:\n  checkpoints: ckpts\n")
    folders = Folders.under(tmp_path / "app")
    load_extra_model_paths(config, folders)
    assert folders.list_models("checkpoints") == ["x.safetensors"]


def test_a_malformed_file_is_refused_with_its_name(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ExtraPathsError, match="bad.yaml"):
        load_extra_model_paths(config, Folders.under(tmp_path))


def test_symlinked_models_are_listed_and_load_but_names_cannot_climb_out(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = write_tiny_checkpoint(elsewhere / "linked.safetensors", ModelFamily.SD1)
    (elsewhere / "folder").mkdir()
    (elsewhere / "folder" / "inner.safetensors").write_bytes(b"")
    folders = Folders.under(tmp_path / "app")
    checkpoints = folders.models / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "linked.safetensors").symlink_to(real)
    (checkpoints / "shared").symlink_to(elsewhere / "folder", target_is_directory=True)
    assert folders.list_models("checkpoints") == ["linked.safetensors", "shared/inner.safetensors"]
    assert folders.model_path("checkpoints", "linked.safetensors").resolve() == real.resolve()
    for bad in ("../elsewhere/linked.safetensors", str(real), ""):
        with pytest.raises(UnsafePathError):
            folders.model_path("checkpoints", bad)
    from diffusion.loader import load_checkpoint

    assert load_checkpoint(folders.model_path("checkpoints", "linked.safetensors")).family == ModelFamily.SD1


def test_the_cli_reads_extra_model_paths(tmp_path):
    a1111, comfy = make_installs(tmp_path)
    write_tiny_checkpoint(a1111 / "models/Stable-diffusion/tiny.safetensors", ModelFamily.SD1)
    config = tmp_path / "paths.yaml"
    config.write_text(A1111_AND_COMFY.format(a1111=a1111, comfy=comfy))
    workflow = Path(__file__).resolve().parents[1] / "workflows" / "txt2img.json"
    out = subprocess.run(
        [".venv/bin/python", "main.py", "run", str(workflow), "--base-dir", str(tmp_path / "app"),
         "--extra-model-paths-config", str(config), "--set", "4.ckpt_name=tiny.safetensors",
         "--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(".png")
