"""The core node set, its /object_info schema (against a committed snapshot) and custom_nodes loading."""
from __future__ import annotations

import json
import logging
from pathlib import Path


import nodes
from nodes.folders import Folders
from comfy_compat.loader import load_packs
from nodes.registry import object_info

SNAPSHOT = Path(__file__).parent / "data" / "object_info_core.json"

CORE = [
    "CheckpointLoaderSimple", "VAELoader", "CLIPSetLastLayer", "CLIPTextEncode", "ConditioningCombine",
    "EmptyLatentImage", "KSampler", "KSamplerAdvanced", "VAEDecode", "VAEEncode", "LoadImage", "SaveImage",
    "PreviewImage", "LatentUpscale", "LatentUpscaleBy", "ImageScale", "ImageInvert",
]


def core_names() -> list[str]:
    """Every node type the app itself defines (classes of the nodes package, no pack's)."""
    return sorted(n for n in nodes.REGISTRY.names() if nodes.REGISTRY.get(n).__module__.startswith("nodes."))


def core_info(tmp_path, names=None) -> dict:
    return object_info(nodes.REGISTRY, Folders.under(tmp_path), names=CORE if names is None else names)


def test_every_core_node_is_registered():
    missing = [name for name in CORE if name not in nodes.REGISTRY]
    assert not missing


def test_object_info_shape(tmp_path):
    info = core_info(tmp_path)
    ks = info["KSampler"]
    assert ks["input"]["required"]["steps"] == ["INT", {"default": 20, "min": 1, "max": 10000,
                                                         "tooltip": "How many denoising steps."}]
    assert ks["input"]["required"]["seed"][1]["control_after_generate"] is True
    assert ks["input"]["required"]["seed"][1]["max"] == 0xFFFFFFFFFFFFFFFF
    assert "euler" in ks["input"]["required"]["sampler_name"][0]
    assert "karras" in ks["input"]["required"]["scheduler"][0]
    assert ks["input_order"]["required"][:3] == ["model", "seed", "steps"]
    assert ks["output"] == ["LATENT"] and ks["output_is_list"] == [False]
    assert info["SaveImage"]["output_node"] is True
    assert info["CLIPTextEncode"]["input"]["required"]["text"][1]["multiline"] is True
    assert info["CheckpointLoaderSimple"]["output"] == ["MODEL", "CLIP", "VAE"]
    assert info["LoadImage"]["output"] == ["IMAGE", "MASK"]
    json.dumps(info)  # serialisable as is


def test_object_info_matches_snapshot(tmp_path):
    """Catches accidental changes to node names, inputs, defaults or outputs, for every core
    node (a node added or removed shows here too).

    After an intended change, refresh with: python -m tests.refresh_object_info_snapshot
    """
    names = core_names()
    assert len(names) > 250 and set(CORE) <= set(names)
    got, want = core_info(tmp_path, names), json.loads(SNAPSHOT.read_text())
    assert sorted(got) == sorted(want), "node types added or removed: refresh the snapshot"
    changed = [name for name in want if got[name] != want[name]]
    assert not changed, f"schemas changed: {changed[:10]}"


def test_model_combos_list_files(tmp_path):
    folders = Folders.under(tmp_path)
    (folders.models / "checkpoints").mkdir(parents=True)
    (folders.models / "checkpoints" / "m.safetensors").write_bytes(b"")
    info = object_info(nodes.REGISTRY, folders, names=["CheckpointLoaderSimple"])
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["m.safetensors"]


def test_custom_nodes_load_and_broken_ones_are_skipped(tmp_path, caplog):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    (folder / "good_pack.py").write_text(
        "from nodes.registry import Node, register_node\n"
        "from nodes.spec import Int, Output\n"
        "@register_node('DoubleIt', category='custom')\n"
        "class DoubleIt(Node):\n"
        "    '''Doubles.'''\n"
        "    x = Int(default=1)\n"
        "    OUTPUTS = (Output('INT'),)\n"
        "    def execute(self, ctx, x):\n"
        "        return (2 * x,)\n"
    )
    (folder / "broken_pack.py").write_text("raise ImportError('missing dependency')\n")
    with caplog.at_level(logging.ERROR):
        loaded = load_packs(folder, nodes.REGISTRY)
    status = {r.name: r.status for r in loaded.reports}
    assert status == {"good_pack": "loaded", "broken_pack": "failed"}
    assert loaded.report("good_pack").nodes == ["DoubleIt"]
    assert "broken_pack" in caplog.text
    cls = nodes.REGISTRY.get("DoubleIt")
    assert cls is not None and cls.execute(cls(), None, x=4) == (8,)
    assert object_info(nodes.REGISTRY, names=["DoubleIt"])["DoubleIt"]["python_module"].startswith("custom_nodes")
