"""Node-label translations (frontend/locales/<lang>/*.json) are complete for every core and
frontend-only node, well formed, and not stale. ui.json (the editor's own strings) is only parsed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts import locale_strings as ls

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_JS = ROOT / "frontend" / "js" / "schema.js"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def info() -> dict:
    return ls.core_object_info()


@pytest.fixture(scope="module")
def zh() -> dict:
    return ls.load_locale("zh")


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, path + (key,))
    else:
        yield ".".join(map(str, path)), tree


def test_every_locale_file_parses():
    files = sorted(ls.LOCALES.glob("*/*.json"))
    assert any(p.parent.name == "zh" and p.name == "nodes.json" for p in files)
    for path in files:  # ui.json included: it must parse, its content is someone else's
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path


def test_zh_covers_every_node_label(info, zh):
    assert "KSampler" in info and "Reroute" in info and "PrimitiveNode" in info
    assert ls.missing(zh, info) == []


def test_zh_has_no_stale_entries(info, zh):
    assert ls.unused(zh, info) == []


def test_every_zh_translation_is_a_non_empty_string(zh):
    bad = [path for path, value in _leaves(zh) if not isinstance(value, str) or not value.strip()]
    assert bad == []


def test_zh_spot_checks(info, zh):
    title = zh["nodes"]["KSampler"]["display_name"]
    assert title != info["KSampler"]["display_name"] and CJK.search(title)
    for segment in ("sampling", "loaders"):
        assert CJK.search(zh["categories"][segment]), segment
    assert zh["inputs"]["seed"] == "种子" and zh["inputs"]["steps"] == "步数"
    assert CJK.search(zh["nodes"]["KSampler"]["inputs"]["seed"]["tooltip"])
    # Technical identifiers stay as they are: sampler and scheduler names are never translated.
    sampler_names = info["KSampler"]["input"]["required"]["sampler_name"][0]
    assert not set(sampler_names) & set(zh.get("values", {}))


def test_zh_keeps_the_numbers_of_the_english_text(info, zh):
    """Values in descriptions and tooltips (-1, 77, (word:1.2)) must survive translation."""
    number = re.compile(r"(?<![A-Za-z0-9.])-?\d+(?:\.\d+)?(?![A-Za-z0-9])")
    lost = []
    for path, english in _leaves(ls.required_keys(info)["nodes"]):
        translated = ls._lookup(zh["nodes"], tuple(path.split(".")))
        lost += [f"{path}: {n}" for n in number.findall(english) if n not in (translated or "")]
    assert lost == []


def test_required_keys_and_missing_on_a_small_schema():
    info = {
        "Thing": {
            "display_name": "Thing", "description": "Does it.", "category": "a/b",
            "input": {"required": {"n": ["INT", {"tooltip": "How many.", "control_after_generate": True}],
                                   "m": ["MODEL", {}]},
                      "optional": {"img": [["x.png"], {"image_upload": True}]}},
            "output": ["IMAGE"], "output_name": ["picture"],
        }
    }
    keys = ls.required_keys(info)
    assert keys["nodes"]["Thing"] == {"display_name": "Thing", "description": "Does it.",
                                      "inputs": {"n": {"tooltip": "How many."}}}
    assert set(keys["inputs"]) == {"n", "m", "img", "control_after_generate", "upload"}
    assert set(keys["outputs"]) == {"picture"} and set(keys["types"]) == {"MODEL", "IMAGE"}
    assert set(keys["categories"]) == {"a", "b"}
    locale = {"nodes": {"Thing": {"display_name": "东西", "description": " ", "inputs": {"n": {"name": "数"}}}},
              "inputs": {"n": "数", "m": "模型", "img": "图", "control_after_generate": "控制", "upload": "上传"},
              "outputs": {"picture": "图片"}, "types": {"MODEL": "模型", "IMAGE": "图像"},
              "categories": {"a": "甲"}}
    assert ls.missing(locale, info) == ["nodes.Thing.description", "nodes.Thing.inputs.n.tooltip", "categories.b"]
    locale["nodes"]["Gone"] = {"display_name": "旧"}
    locale["values"] = {"x.png": "图片", "nope": "不"}
    assert ls.unused(locale, info) == ["nodes.Gone", "values.nope"]


def test_user_files_deep_merge_over_the_shipped_ones(tmp_path):
    user = tmp_path / "mine.json"
    user.write_text(json.dumps({"nodes": {"KSampler": {"display_name": "我的采样器"}}, "inputs": {"cfg": "引导"}}),
                    encoding="utf-8")
    merged = ls.load_locale("zh", [user])
    assert merged["nodes"]["KSampler"]["display_name"] == "我的采样器"
    assert merged["nodes"]["KSampler"]["description"] == ls.load_locale("zh")["nodes"]["KSampler"]["description"]
    assert merged["inputs"]["cfg"] == "引导" and merged["inputs"]["seed"] == "种子"


def test_frontend_only_nodes_mirror_schema_js():
    source = SCHEMA_JS.read_text(encoding="utf-8")
    listed = re.search(r"const FRONTEND_NODES = \{([^}]*)\}", source)
    assert listed, "FRONTEND_NODES not found in schema.js"
    assert set(re.findall(r"(\w+)\s*:", listed.group(1))) == set(ls.FRONTEND_NODES)
    for node in ls.FRONTEND_NODES.values():
        assert json.dumps(node["display_name"]) in source, node["name"]
        assert json.dumps(node["description"]) in source, node["name"]
        for name in node["output_name"]:
            assert json.dumps(name) in source
    control = re.search(r"CONTROL_VALUES = (\[[^\]]*\])", source)
    assert control and json.loads(control.group(1)) == ls.CONTROL_VALUES


def test_cli_reports_nothing_missing(capsys):
    assert ls.main(["zh"]) == 0
    out = capsys.readouterr()
    assert "missing:" not in out.out and out.err.startswith("0 missing")
