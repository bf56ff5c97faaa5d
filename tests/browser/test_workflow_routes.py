"""GET /studio/workflows lists the shipped workflows (the editor's templates menu)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def get(url: str):
    with urllib.request.urlopen(url) as response:
        return response.status, json.load(response)


def test_shipped_workflows_are_listed_and_served(server_url):
    _, listed = get(f"{server_url}/studio/workflows")
    names = {item["name"] for item in listed}
    assert {"txt2img.json", "img2img.json"} <= names
    assert all(item["format"] in ("api", "ui") for item in listed)
    status, data = get(f"{server_url}/api/studio/workflows/txt2img.json")
    assert status == 200 and data == json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    for bad, code in (("missing.json", 404), ("..%2Fmain.py", (403, 404))):
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(f"{server_url}/studio/workflows/{bad}")
        assert caught.value.code in (code if isinstance(code, tuple) else (code,))
