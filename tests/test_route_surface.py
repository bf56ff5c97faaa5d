"""The ComfyUI-compatible HTTP surface is frozen: its routes are checked against a committed
list, so a route is added, renamed or dropped only on purpose (then update the list in
tests/data/comfy_routes.json). The studio's own extras live under /studio/ and are not part
of it."""
from __future__ import annotations

import json
import re
from pathlib import Path

from server.app import COMFY_ROUTE_MODULES, create_app
from tests.server_support import SERVER_NODES, make_config

SNAPSHOT = Path(__file__).parent / "data" / "comfy_routes.json"


def comfy_surface() -> list[list[str]]:
    return sorted([method, path] for module in COMFY_ROUTE_MODULES for method, path, _ in module.ROUTES)


def test_comfy_route_list_matches_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    current = comfy_surface()
    added = [r for r in current if r not in expected]
    dropped = [r for r in expected if r not in current]
    assert not added and not dropped, f"added {added}, dropped {dropped}: update {SNAPSHOT.name} if on purpose"


def test_studio_extras_stay_under_studio(tmp_path):
    app = create_app(make_config(tmp_path), registry=SERVER_NODES)
    comfy = {re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path) for _, path in comfy_surface()}
    for resource in app.router.resources():
        path = resource.canonical
        bare = path[4:] if path.startswith("/api/") else path
        if bare in comfy or path == "/{path}":
            continue
        assert bare.startswith("/studio/"), f"{path} is neither ComfyUI's surface nor a /studio/ extra"


def test_every_route_answers_under_api_too(tmp_path):
    app = create_app(make_config(tmp_path), registry=SERVER_NODES)
    paths = {resource.canonical for resource in app.router.resources()}
    for _, path in comfy_surface():
        assert "/api" + path.split("{")[0] in {p.split("{")[0] for p in paths}, path
