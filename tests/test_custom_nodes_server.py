"""Packs in the real server: their nodes in /object_info, their routes, their web folders,
their events, the load report, and workflows mixing pack and core nodes over the API."""
from __future__ import annotations

import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfy_compat.setup import load_into_server
from server.app import create_app
from tests.pack_support import core_registry, place_packs
from tests.server_support import async_test, collect_until_done, make_config, queue_prompt, wait_for_history


@pytest.fixture
def base(tmp_path):
    place_packs(tmp_path, ["studio_v1_pack", "broken_import_pack", "studio_v3_pack"])
    return tmp_path


def client_for(base) -> TestClient:
    app = create_app(make_config(base), registry=core_registry(),
                     prepare=lambda app: load_into_server(app, base / "custom_nodes"))
    return TestClient(TestServer(app, host="127.0.0.1"))


def show_math(a: int, b: int) -> dict:
    return {"1": {"class_type": "StudioIntMath", "inputs": {"a": a, "b": b, "op": "add"}},
            "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
            "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
            "4": {"class_type": "StudioShowText", "inputs": {"text": ["1", 1], "anything": ["3", 0]}}}


@async_test
async def test_pack_nodes_are_published_with_their_categories(base):
    async with client_for(base) as client:
        info = await (await client.get("/object_info")).json()
        assert info["StudioIntMath"]["category"] == "studio_test/math"
        assert info["StudioIntMath"]["display_name"] == "Studio Int Math"
        assert info["StudioV3Scale"]["python_module"] == "custom_nodes.studio_v3_pack"
        assert "KSampler" in info
        one = await (await client.get("/api/object_info/StudioLazySwitch")).json()
        assert one["StudioLazySwitch"]["input"]["required"]["first"][1]["lazy"] is True


@async_test
async def test_routes_added_through_prompt_server_answer(base):
    async with client_for(base) as client:
        for path in ("/studio_v1/ping", "/api/studio_v1/ping"):
            response = await client.get(path)
            assert response.status == 200
            data = await response.json()
            assert data["pong"] is True and data["output"] == str(base / "output")


@async_test
async def test_web_directories_are_listed_and_served_inside_their_folder(base):
    async with client_for(base) as client:
        scripts = await (await client.get("/extensions")).json()
        assert "/extensions/studio_v1_pack/studio_v1.js" in scripts
        script = await client.get("/extensions/studio_v1_pack/studio_v1.js")
        assert script.status == 200 and "registerExtension" in await script.text()
        for bad in ("/extensions/studio_v1_pack/..%2f__init__.py", "/extensions/studio_v1_pack/%2e%2e/__init__.py",
                    "/extensions/nope/x.js"):
            assert (await client.get(bad)).status in (403, 404)


@async_test
async def test_the_load_report_names_failed_packs(base):
    async with client_for(base) as client:
        packs = {p["name"]: p for p in await (await client.get("/studio/packs")).json()}
        assert packs["studio_v1_pack"]["status"] == "loaded" and len(packs["studio_v1_pack"]["nodes"]) == 27
        assert packs["broken_import_pack"]["status"] == "failed"
        assert "studio_module_that_is_not_installed" in packs["broken_import_pack"]["reason"]


@async_test
async def test_a_mixed_workflow_runs_over_the_api_with_pack_events(base):
    async with client_for(base) as client:
        ws = await client.ws_connect("/ws?clientId=tester")
        await ws.receive_json()  # status
        queued = await queue_prompt(client, show_math(20, 22), client_id="tester")
        messages, _ = await collect_until_done(ws, queued["prompt_id"])
        events = [m for m in messages if m["type"] == "studio_v1.event"]
        assert events and events[0]["data"] == {"text": "42", "node": "4"}
        entry = await wait_for_history(client, queued["prompt_id"])
        assert entry["status"]["status_str"] == "success"
        assert entry["outputs"]["4"] == {"text": ["42"]}
        seen = sys.modules["custom_nodes.studio_v1_pack"].PROMPTS_SEEN
        assert ["1", "2", "3", "4"] in seen  # the pack's on-prompt handler saw the request
        await ws.close()


@async_test
async def test_a_failing_pack_node_ends_its_prompt_and_the_queue_goes_on(base):
    async with client_for(base) as client:
        failing = {"1": {"class_type": "StudioFails", "inputs": {"message": "pack node exploded"}},
                   "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 1, "op": "add"}},
                   "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}}
        bad = await queue_prompt(client, failing)
        good = await queue_prompt(client, show_math(1, 2))
        bad_entry = await wait_for_history(client, bad["prompt_id"])
        assert bad_entry["status"]["status_str"] == "error"
        errors = [d for kind, d in bad_entry["status"]["messages"] if kind == "execution_error"]
        assert errors[0]["node_type"] == "StudioFails" and errors[0]["exception_message"] == "pack node exploded"
        good_entry = await wait_for_history(client, good["prompt_id"])
        assert good_entry["outputs"]["4"] == {"text": ["3"]}


@async_test
async def test_invalid_pack_values_get_a_400_with_node_errors(base):
    async with client_for(base) as client:
        response = await client.post("/prompt", json={"prompt": show_math(-4, 2)})
        assert response.status == 400
        body = await response.json()
        assert body["node_errors"]["1"]["errors"][0]["type"] == "value_smaller_than_min"
