"""Every HTTP route, on trivial integer nodes and real files in tmp folders."""
from __future__ import annotations

import asyncio
import io
import json
import urllib.request

from aiohttp import FormData
from PIL import Image

from bench.trivial_nodes import chain_workflow
from tests.server_support import (
    GATE,
    GATE_ENTERED,
    async_test,
    gated_workflow,
    make_client,
    queue_prompt,
    sink_workflow,
    wait_for_history,
)


def png_bytes(size=(8, 8), color=(255, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@async_test
async def test_prompt_runs_and_lands_in_history(tmp_path):
    async with make_client(tmp_path) as client:
        queued = await queue_prompt(client, chain_workflow(3), client_id="me", extra_data={"k": 1})
        assert set(queued) == {"prompt_id", "number", "node_errors"}
        assert queued["node_errors"] == {} and queued["number"] == 0
        entry = await wait_for_history(client, queued["prompt_id"])
        assert entry["outputs"] == {"4": {"value": [3]}}
        assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
        kinds = [kind for kind, _ in entry["status"]["messages"]]
        assert kinds == ["execution_start", "execution_cached", "execution_success"]
        number, prompt_id, prompt, extra, outputs = entry["prompt"]
        assert prompt_id == queued["prompt_id"] and prompt == chain_workflow(3)
        assert extra.pop("create_time") > 0  # ComfyUI's stamp, in milliseconds
        assert extra == {"k": 1, "client_id": "me"} and outputs == ["4"]
        for path in ("/prompt", "/api/prompt"):
            response = await client.get(path)
            assert await response.json() == {"exec_info": {"queue_remaining": 0}}


@async_test
async def test_client_prompt_id_and_duplicates(tmp_path):
    async with make_client(tmp_path) as client:
        queued = await queue_prompt(client, sink_workflow(1), prompt_id="my-id")
        assert queued["prompt_id"] == "my-id"
        response = await client.post("/prompt", json={"prompt": sink_workflow(2), "prompt_id": "my-id"})
        assert response.status == 400


@async_test
async def test_invalid_prompt_is_refused_with_node_errors(tmp_path):
    async with make_client(tmp_path) as client:
        bad = {"1": {"class_type": "IntConst", "inputs": {"value": "x"}}, "2": {"class_type": "IntSink", "inputs": {"a": ["1", 0]}}}
        response = await client.post("/api/prompt", json={"prompt": bad})
        body = await response.json()
        assert response.status == 400
        assert body["error"]["type"] == "prompt_outputs_failed_validation"
        assert body["node_errors"]["1"]["errors"][0]["type"] == "invalid_input_type"
        assert body["node_errors"]["1"]["class_type"] == "IntConst"
        assert body["node_errors"]["1"]["dependent_outputs"] == ["2"]
        response = await client.post("/prompt", json={"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
        assert (await response.json())["error"]["type"] == "prompt_no_outputs"
        response = await client.post("/prompt", json={"client_id": "x"})
        assert response.status == 400 and (await response.json())["error"]["type"] == "no_prompt"
        response = await client.get("/queue")
        assert await response.json() == {"queue_running": [], "queue_pending": []}


@async_test
async def test_partly_valid_prompt_runs_its_valid_outputs(tmp_path):
    prompt = {
        **sink_workflow(5),
        "8": {"class_type": "IntConst", "inputs": {"value": 2}},
        "9": {"class_type": "Scale", "inputs": {"a": ["8", 0], "factor": 99.0, "label": "", "mode": "round"}},
        "10": {"class_type": "IntSink", "inputs": {"a": ["9", 0]}},
    }
    async with make_client(tmp_path) as client:
        queued = await queue_prompt(client, prompt)
        assert list(queued["node_errors"]) == ["9"]
        assert queued["node_errors"]["9"]["errors"][0]["type"] == "value_bigger_than_max"
        entry = await wait_for_history(client, queued["prompt_id"])
        assert entry["outputs"] == {"3": {"value": [6]}}
        assert entry["prompt"][4] == ["3"]


@async_test
async def test_runtime_failure_is_recorded_and_the_next_prompt_runs(tmp_path):
    failing = {
        "1": {"class_type": "IntConst", "inputs": {"value": 1}},
        "2": {"class_type": "AddOne", "inputs": {"a": ["1", 0], "fail": "yes"}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }
    async with make_client(tmp_path) as client:
        first = await queue_prompt(client, failing)
        second = await queue_prompt(client, sink_workflow(10))
        entry = await wait_for_history(client, first["prompt_id"])
        assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
        kind, error = entry["status"]["messages"][-1]
        assert kind == "execution_error" and error["node_id"] == "2" and "asked to fail" in error["exception_message"]
        ok = await wait_for_history(client, second["prompt_id"])
        assert ok["outputs"] == {"3": {"value": [11]}}


@async_test
async def test_queue_listing_order_front_delete_and_clear(tmp_path):
    async with make_client(tmp_path, start_worker=False) as client:
        ids = [(await queue_prompt(client, sink_workflow(i)))["prompt_id"] for i in range(4)]
        front = await queue_prompt(client, sink_workflow(99), front=True)
        assert front["number"] < 0
        response = await client.get("/api/queue")
        listing = await response.json()
        assert listing["queue_running"] == []
        pending = [item[1] for item in listing["queue_pending"]]
        assert pending == [front["prompt_id"], *ids]
        assert len(listing["queue_pending"][0]) == 5
        assert (await (await client.get("/prompt")).json())["exec_info"]["queue_remaining"] == 5

        assert (await client.post("/queue", json={"delete": [ids[1], "unknown"]})).status == 200
        pending = [item[1] for item in (await (await client.get("/queue")).json())["queue_pending"]]
        assert pending == [front["prompt_id"], ids[0], ids[2], ids[3]]
        assert (await client.post("/queue", json={"clear": True})).status == 200
        assert (await (await client.get("/queue")).json())["queue_pending"] == []


@async_test
async def test_explicit_number_orders_the_queue(tmp_path):
    async with make_client(tmp_path, start_worker=False) as client:
        late = await queue_prompt(client, sink_workflow(1), number=50)
        early = await queue_prompt(client, sink_workflow(2), number=10.5)
        assert early["number"] == 10.5
        pending = [item[1] for item in (await (await client.get("/queue")).json())["queue_pending"]]
        assert pending == [early["prompt_id"], late["prompt_id"]]


@async_test
async def test_interrupt_stops_the_running_prompt(tmp_path):
    GATE.clear()
    GATE_ENTERED.clear()
    try:
        async with make_client(tmp_path) as client:
            queued = await queue_prompt(client, gated_workflow())
            after = await queue_prompt(client, sink_workflow(3))
            for _ in range(500):
                if GATE_ENTERED.is_set():
                    break
                await asyncio.sleep(0.01)
            running = (await (await client.get("/queue")).json())["queue_running"]
            assert [item[1] for item in running] == [queued["prompt_id"]]
            assert (await client.post("/interrupt", json={"prompt_id": "someone-else"})).status == 200
            assert (await client.post("/api/interrupt")).status == 200
            entry = await wait_for_history(client, queued["prompt_id"])
            assert entry["status"]["status_str"] == "error"
            assert entry["status"]["messages"][-1][0] == "execution_interrupted"
            assert entry["status"]["messages"][-1][1]["node_id"] == "2"
            assert (await wait_for_history(client, after["prompt_id"]))["status"]["status_str"] == "success"
    finally:
        GATE.set()


@async_test
async def test_history_listing_limits_and_deletion(tmp_path):
    async with make_client(tmp_path) as client:
        ids = []
        for i in range(4):
            ids.append((await queue_prompt(client, sink_workflow(i)))["prompt_id"])
            await wait_for_history(client, ids[-1])
        assert list(await (await client.get("/history")).json()) == ids
        assert list(await (await client.get("/api/history?max_items=2")).json()) == ids[2:]
        assert (await client.get("/history?max_items=-1")).status == 400
        assert (await client.get("/history?max_items=abc")).status == 400
        assert await (await client.get("/history/unknown")).json() == {}
        assert (await client.post("/history", json={"delete": [ids[0]]})).status == 200
        assert list(await (await client.get("/history")).json()) == ids[1:]
        assert (await client.post("/api/history", json={"clear": True})).status == 200
        assert await (await client.get("/history")).json() == {}


@async_test
async def test_object_info_routes(tmp_path):
    async with make_client(tmp_path) as client:
        info = await (await client.get("/object_info")).json()
        assert {"IntConst", "AddOne", "IntSink", "Gate"} <= set(info)
        assert info["IntSink"]["output_node"] is True
        one = await (await client.get("/api/object_info/AddOne")).json()
        assert list(one) == ["AddOne"] and one["AddOne"]["input"]["required"]["a"] == ["INT", {}]
        assert await (await client.get("/object_info/Missing")).json() == {}


@async_test
async def test_object_info_of_core_nodes_lists_model_files(tmp_path):
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "mine.safetensors").write_bytes(b"x")
    async with make_client(tmp_path, registry=None) as client:
        info = await (await client.get("/object_info/CheckpointLoaderSimple")).json()
        choices = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
        assert choices == ["mine.safetensors"]


@async_test
async def test_models_and_embeddings(tmp_path):
    models = tmp_path / "models"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "a.safetensors").write_bytes(b"x")
    (models / "loras" / "notes.txt").write_text("no")
    (models / "embeddings").mkdir()
    (models / "embeddings" / "style.pt").write_bytes(b"x")
    async with make_client(tmp_path) as client:
        kinds = await (await client.get("/models")).json()
        assert "checkpoints" in kinds and "loras" in kinds
        assert await (await client.get("/api/models/loras")).json() == ["a.safetensors"]
        assert await (await client.get("/models/checkpoints")).json() == []
        assert (await client.get("/models/nope")).status == 404
        assert await (await client.get("/embeddings")).json() == ["style"]


@async_test
async def test_system_stats_and_free(tmp_path):
    async with make_client(tmp_path) as client:
        stats = await (await client.get("/system_stats")).json()
        assert {"os", "python_version", "pytorch_version", "ram_total", "ram_free"} <= set(stats["system"])
        device = stats["devices"][0]
        assert {"name", "type", "index", "vram_total", "vram_free"} <= set(device)
        queued = await queue_prompt(client, sink_workflow(1))
        await wait_for_history(client, queued["prompt_id"])
        assert (await client.post("/free", json={"unload_models": True, "free_memory": True})).status == 200
        again = await queue_prompt(client, sink_workflow(1))
        entry = await wait_for_history(client, again["prompt_id"])
        cached = dict(entry["status"]["messages"])["execution_cached"]["nodes"]
        assert cached == []  # the cache was emptied between the two prompts


@async_test
async def test_upload_and_view_round_trip(tmp_path):
    data = png_bytes()
    async with make_client(tmp_path) as client:
        names = []
        for _ in range(2):
            form = FormData()
            form.add_field("image", data, filename="pic.png", content_type="image/png")
            form.add_field("subfolder", "sub")
            body = await (await client.post("/upload/image", data=form)).json()
            names.append(body["name"])
            assert body["subfolder"] == "sub" and body["type"] == "input"
        assert names == ["pic.png", "pic.png"]  # same bytes: the file is reused

        form = FormData()
        form.add_field("image", png_bytes(color=(0, 255, 0)), filename="pic.png")
        form.add_field("subfolder", "sub")
        assert (await (await client.post("/api/upload/image", data=form)).json())["name"] == "pic (1).png"
        form = FormData()
        form.add_field("image", png_bytes(color=(0, 0, 255)), filename="pic.png")
        form.add_field("subfolder", "sub")
        form.add_field("overwrite", "true")
        assert (await (await client.post("/upload/image", data=form)).json())["name"] == "pic.png"
        assert (tmp_path / "input" / "sub" / "pic.png").read_bytes() == png_bytes(color=(0, 0, 255))

        response = await client.get("/view", params={"filename": "pic (1).png", "type": "input", "subfolder": "sub"})
        assert response.status == 200 and response.content_type == "image/png"
        assert await response.read() == png_bytes(color=(0, 255, 0))
        (tmp_path / "output" / "result.png").write_bytes(data)
        response = await client.get("/api/view", params={"filename": "result.png"})
        assert response.status == 200 and await response.read() == data
        (tmp_path / "temp" / "page.html").write_text("<script>alert(1)</script>")
        response = await client.get("/view", params={"filename": "page.html", "type": "temp"})
        assert response.content_type == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get("/view", params={"filename": "missing.png"})).status == 404
        assert (await client.get("/view", params={"filename": "x.png", "type": "models"})).status == 400


@async_test
async def test_frontend_is_served(tmp_path):
    async with make_client(tmp_path) as client:
        response = await client.get("/")
        assert response.status == 200 and response.content_type == "text/html"
        assert "/object_info" in await response.text()
        assert (await client.get("/index.html")).status == 200
        assert (await client.get("/nothing-here.js")).status == 404


def load_and_save(name: str) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
    }


@async_test
async def test_uploaded_image_feeds_a_workflow_and_a_vanished_file_fails_at_run_time(tmp_path):
    async with make_client(tmp_path, registry=None) as client:
        form = FormData()
        form.add_field("image", png_bytes((16, 8)), filename="in.png")
        name = (await (await client.post("/upload/image", data=form)).json())["name"]
        queued = await queue_prompt(client, load_and_save(name))
        entry = await wait_for_history(client, queued["prompt_id"])
        saved = entry["outputs"]["3"]["images"][0]
        response = await client.get("/view", params=saved)
        with Image.open(io.BytesIO(await response.read())) as image:
            assert image.size == (16, 8) and image.getpixel((0, 0)) == (0, 255, 255)
    async with make_client(tmp_path, registry=None, start_worker=False) as client:
        queued = await queue_prompt(client, load_and_save("in.png"))
    (tmp_path / "input" / "in.png").unlink()
    async with make_client(tmp_path, registry=None) as client:
        entry = await wait_for_history(client, queued["prompt_id"])
        assert entry["status"]["status_str"] == "error"
        kind, error = entry["status"]["messages"][-1]
        assert kind == "execution_error" and error["exception_type"] == "executor.run.WorkflowInvalid"
        assert "in.png" in error["exception_message"]


@async_test
async def test_comfyui_example_script_style_requests(tmp_path):
    """ComfyUI's example scripts post JSON with urllib (form content type) and poll history."""
    async with make_client(tmp_path) as client:
        base = f"http://127.0.0.1:{client.port}"

        def post() -> dict:
            data = json.dumps({"prompt": sink_workflow(41), "client_id": "script", "prompt_id": "p-1"}).encode()
            with urllib.request.urlopen(urllib.request.Request(f"{base}/prompt", data=data), timeout=10) as response:
                return json.load(response)

        assert (await asyncio.to_thread(post))["prompt_id"] == "p-1"
        entry = await wait_for_history(client, "p-1")
        assert entry["outputs"]["3"]["value"] == [42]
