"""Every workflow in workflows/ opens from the Templates menu and converts back to the
same API prompt (widget values by input order, links by slot)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.helpers import js

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.json"))


def normalised(prompt: dict) -> dict:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_template_round_trips(page, path):
    data = json.loads(path.read_text())
    if isinstance(data.get("nodes"), list):
        pytest.skip("UI-format template")
    page.click("#templates-button")
    page.click(f".menu-item[data-label='{path.stem.replace('_', ' ')}']")
    page.wait_for_function("name => (window.studio.lastLoad || {}).source === name", arg=path.name)
    assert js(page, "() => window.studio.graph.nodes.length") == len(data)
    assert js(page, "() => window.studio.unknownTypes") == []
    assert normalised(js(page, "() => window.studio.toApi()")) == normalised(data)
