"""Loading packs from custom_nodes/: each one alone, failures named with their reason."""
from __future__ import annotations

import logging
import subprocess

import pytest

from executor.run import Executor
from tests.pack_support import load_test_packs


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("packs_all")
    return load_test_packs(base)


def report(env, name):
    found = env[2].report(name)
    assert found is not None, f"no report for {name}"
    return found


def test_a_pack_with_a_missing_module_is_named_with_its_pip_package(env):
    broken = report(env, "broken_import_pack")
    assert broken.status == "failed"
    assert "missing Python module 'studio_module_that_is_not_installed'" in broken.reason
    assert "nodes deps broken_import_pack" in broken.reason
    assert "broken_import_pack/__init__.py:1" in broken.reason


def test_other_packs_load_beside_broken_ones(env):
    assert report(env, "studio_v1_pack").status == "loaded"
    assert report(env, "studio_single_file").status == "loaded"


def test_disabled_packs_are_not_imported(env):
    assert env[2].report("old_pack") is None and env[2].report("old_pack.disabled") is None


def test_packs_may_not_install_packages(env):
    pip = report(env, "pip_at_import_pack")
    assert pip.status == "failed"
    assert "tried to install packages" in pip.reason and "install-deps pip_at_import_pack" in pip.reason


def test_the_same_node_id_in_two_packs_is_reported_in_both(env):
    _, registry, loaded = env
    a, b = report(env, "dup_pack_a"), report(env, "dup_pack_b")
    assert "StudioDuplicate" not in a.nodes and "replaced" in a.node_errors["StudioDuplicate"]
    assert "StudioDuplicate" in b.nodes and any("StudioDuplicate" in note for note in b.notes)
    assert loaded.owners["StudioDuplicate"] == "dup_pack_b"
    assert "StudioOnlyInA" in a.nodes and "StudioOnlyInB" in b.nodes


def test_a_pack_cannot_replace_a_core_node(env):
    _, registry, _ = env
    a = report(env, "dup_pack_a")
    assert "core node" in a.node_errors["KSampler"]
    assert registry.get("KSampler").PYTHON_MODULE == "nodes"


def test_a_node_whose_inputs_fail_is_skipped_alone(env):
    internals = report(env, "needs_internals_pack")
    assert internals.status == "loaded"
    assert internals.nodes == ["StudioNeedsInternals"]
    assert "cannot be listed" in internals.node_errors["StudioBadInputTypes"]


def test_comfyui_internals_import_and_name_themselves_when_used(env):
    folders, registry, _ = env
    result = Executor(folders, registry=registry).run({
        "1": {"class_type": "StudioNeedsInternals", "inputs": {"value": 1}},
        "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
        "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}})
    assert result.status == "error"
    assert "comfy.ldm.modules.attention.optimized_attention" in result.error["exception_message"]
    assert "not include" in result.error["exception_message"]
    assert "from pack needs_internals_pack" in result.error["exception_message"]


def test_names_comfyui_lacks_are_missing_here_too():
    from comfy_compat import install_surface

    install_surface()
    import comfy.model_management as mm
    import comfy.sample

    assert not hasattr(mm, "definitely_not_a_comfyui_function")
    assert hasattr(comfy.sample, "np") and comfy.sample.np.__name__ == "numpy"
    with pytest.raises(ImportError):
        exec("from comfy.utils import definitely_not_a_comfyui_function")


def test_nodes_list_shows_every_pack(tmp_path):
    from tests.pack_support import place_packs

    place_packs(tmp_path)
    out = subprocess.run([".venv/bin/python", "main.py", "nodes", "--base-dir", str(tmp_path), "list"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:] if line and not line.startswith(" ")}
    assert "loaded" in lines["studio_v1_pack"] and " 27 " in lines["studio_v1_pack"]
    assert "failed" in lines["broken_import_pack"] and "studio_module_that_is_not_installed" in lines["broken_import_pack"]
    assert "1 node(s) not registered" in lines["needs_internals_pack"]


def test_nodes_deps_lists_what_is_missing(tmp_path):
    from tests.pack_support import place_packs

    place_packs(tmp_path, ["studio_v1_pack"])
    out = subprocess.run([".venv/bin/python", "main.py", "nodes", "--base-dir", str(tmp_path), "deps",
                          "studio_v1_pack"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "studio-test-dist-that-does-not-exist>=1.0: not installed" in out.stdout
    assert "numpy" not in out.stdout.split("\n", 1)[1]


def test_install_deps_refuses_what_would_replace_torch(tmp_path, monkeypatch):
    from comfy_compat import deps

    with pytest.raises(deps.DependencyError) as refused:
        deps.plan_install(["torch==2.0.0"])
    assert "pinned" in str(refused.value) or "torch" in str(refused.value)


def test_the_loader_logs_import_times(tmp_path, caplog):
    from tests.pack_support import load_test_packs as load

    with caplog.at_level(logging.INFO, logger="sd_studio.custom_nodes"):
        load(tmp_path, ["studio_single_file.py", "broken_import_pack"])
    assert "Import times for custom nodes" in caplog.text and "(IMPORT FAILED)" in caplog.text


def test_the_cli_runs_a_workflow_with_pack_nodes(tmp_path):
    import json

    from tests.pack_support import place_packs

    place_packs(tmp_path, ["studio_v1_pack"])
    workflow = {"1": {"class_type": "StudioIntMath", "inputs": {"a": 16, "b": 16, "op": "add"}},
                "2": {"class_type": "EmptyImage", "inputs": {"width": ["1", 0], "height": 8, "batch_size": 1,
                                                               "color": 255}},
                "3": {"class_type": "StudioPreview", "inputs": {"images": ["2", 0]}}}
    path = tmp_path / "pack_workflow.json"
    path.write_text(json.dumps(workflow))
    out = subprocess.run([".venv/bin/python", "main.py", "run", str(path), "--base-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    saved = out.stdout.strip().splitlines()[-1]
    assert "/temp/" in saved and saved.endswith(".png")
    from PIL import Image

    with Image.open(saved) as picture:
        assert picture.size == (32, 8)
