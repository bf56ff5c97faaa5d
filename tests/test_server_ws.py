"""A real (tiny) SD1 checkpoint through the server: WebSocket event order, binary preview
frames only when asked, and the saved image fetched back with /view."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from diffusion.types import ModelFamily
from server.previews import FORMAT_JPEG, PREVIEW_IMAGE, decode_frame_header
from tests.server_support import async_test, collect_until_done, make_client, queue_prompt

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base(make_app_dir) -> Path:
    return make_app_dir({"tiny.safetensors": ModelFamily.SD1}, name="studio")


def txt2img(seed: int) -> dict:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = "tiny.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=3, seed=seed)
    prompt["9"]["inputs"]["filename_prefix"] = "served"
    return prompt


def check_frames(frames: list[bytes]) -> None:
    for frame in frames:
        assert decode_frame_header(frame) == (PREVIEW_IMAGE, FORMAT_JPEG)
        with Image.open(io.BytesIO(frame[8:])) as image:
            assert image.format == "JPEG" and image.size == (8, 8)


@async_test
async def test_event_order_and_previews_only_when_asked(base, tmp_path):
    async with make_client(base, registry=None, database=tmp_path / "db.sqlite3") as client:
        ws = await client.ws_connect("/ws?clientId=painter")
        assert (await ws.receive_json())["type"] == "status"

        queued = await queue_prompt(client, txt2img(1), client_id="painter")
        messages, frames = await collect_until_done(ws, queued["prompt_id"])
        assert frames == []  # neither the prompt nor the server asked for previews
        events = [(m["type"], m["data"].get("node")) for m in messages if m["type"] != "status"]
        assert events[:2] == [("execution_start", None), ("execution_cached", None)]
        ran = [node for kind, node in events if kind == "executing" and node is not None]
        assert ran[0] == "4" and ran[-2:] == ["8", "9"] and set(ran) == {"3", "4", "5", "6", "7", "8", "9"}
        progress = [m["data"] for m in messages if m["type"] == "progress"]
        assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 3, "3"), (2, 3, "3"), (3, 3, "3")]
        assert all(p["prompt_id"] == queued["prompt_id"] for p in progress)
        executed = [m["data"] for m in messages if m["type"] == "executed"]
        assert [e["node"] for e in executed] == ["9"]
        assert events[-2:] == [("execution_success", None), ("executing", None)]
        sampler_at = events.index(("executing", "3"))
        assert events[sampler_at + 1][0] == "progress"

        image = executed[0]["output"]["images"][0]
        assert image["type"] == "output" and image["filename"].startswith("served")
        response = await client.get("/view", params=image)
        assert response.status == 200 and response.content_type == "image/png"
        with Image.open(io.BytesIO(await response.read())) as png:
            assert png.size == (64, 64) and "prompt" in png.info

        asked = await queue_prompt(client, txt2img(2), client_id="painter", extra_data={"preview_method": "latent2rgb"})
        messages, frames = await collect_until_done(ws, asked["prompt_id"])
        assert 1 <= len(frames) <= 3
        check_frames(frames)
        cached = next(m["data"]["nodes"] for m in messages if m["type"] == "execution_cached")
        assert set(cached) == {"4", "5", "6", "7"}  # only the seed changed
        await ws.close()


@async_test
async def test_fully_cached_requeue_from_another_client_sends_the_saved_images(base, tmp_path):
    """A second tab queueing the same graph again: nothing runs, yet its own socket hears
    `executed` for Save Image with the images of the first run (as ComfyUI sends)."""
    async with make_client(base, registry=None, database=tmp_path / "db.sqlite3") as client:
        first = await client.ws_connect("/ws?clientId=first-tab")
        assert (await first.receive_json())["type"] == "status"
        queued = await queue_prompt(client, txt2img(7), client_id="first-tab")
        messages, _ = await collect_until_done(first, queued["prompt_id"])
        shown = [m["data"]["output"] for m in messages if m["type"] == "executed"]
        await first.close()

        fresh = await client.ws_connect("/ws?clientId=fresh-tab")
        assert (await fresh.receive_json())["type"] == "status"
        again = await queue_prompt(client, txt2img(7), client_id="fresh-tab")
        messages, _ = await collect_until_done(fresh, again["prompt_id"])
        events = [(m["type"], m["data"].get("node")) for m in messages if m["type"] != "status"]
        cached = next(m["data"]["nodes"] for m in messages if m["type"] == "execution_cached")
        assert set(cached) == {"3", "4", "5", "6", "7", "8", "9"}
        assert [node for kind, node in events if kind == "executing" and node] == []  # nothing ran
        executed = [m["data"] for m in messages if m["type"] == "executed"]
        assert [(e["node"], e["display_node"], e["prompt_id"]) for e in executed] == [("9", "9", again["prompt_id"])]
        assert [e["output"] for e in executed] == shown
        assert events.index(("executed", "9")) < events.index(("execution_success", None))
        history = await (await client.get(f"/history/{again['prompt_id']}")).json()
        assert history[again["prompt_id"]]["outputs"]["9"] == shown[0]
        await fresh.close()


@async_test
async def test_server_preview_method_applies_to_prompts_that_do_not_ask(base, tmp_path):
    config = dict(registry=None, database=tmp_path / "db.sqlite3", preview_method="auto", preview_interval_s=0)
    async with make_client(base, **config) as client:
        ws = await client.ws_connect("/ws?clientId=viewer")
        await ws.receive_json()
        queued = await queue_prompt(client, txt2img(3), client_id="viewer")
        _, frames = await collect_until_done(ws, queued["prompt_id"])
        assert len(frames) == 3  # one per step with the throttle off
        check_frames(frames)
        entry = (await (await client.get(f"/history/{queued['prompt_id']}")).json())[queued["prompt_id"]]
        assert entry["prompt"][3]["preview_method"] == "auto"
        off = await queue_prompt(client, txt2img(4), client_id="viewer", extra_data={"preview_method": "none"})
        _, frames = await collect_until_done(ws, off["prompt_id"])
        assert frames == []
        await ws.close()


@async_test
async def test_save_image_websocket_frames_arrive_while_its_node_runs(base, tmp_path):
    """ComfyUI's WebSocket example: PNG frames that come while `executing` names the
    SaveImageWebsocket node are the results, full size; nothing is written to output/."""
    from aiohttp import WSMsgType

    from server.previews import FORMAT_PNG

    prompt = txt2img(3)
    prompt["5"]["inputs"]["batch_size"] = 2
    del prompt["9"]
    prompt["save_image_websocket_node"] = {"class_type": "SaveImageWebsocket", "inputs": {"images": ["8", 0]}}
    saved_before = sorted((base / "output").rglob("*.png"))
    async with make_client(base, registry=None, database=tmp_path / "db.sqlite3") as client:
        ws = await client.ws_connect("/ws?clientId=api-script")
        assert (await ws.receive_json())["type"] == "status"
        for round_ in range(2):  # the second time everything upstream is cached: frames still come
            queued = await queue_prompt(client, prompt, client_id="api-script")
            current, images = "", []
            while True:
                message = await ws.receive(timeout=30)
                if message.type == WSMsgType.TEXT:
                    data = message.json()
                    if data["type"] == "executing" and data["data"].get("prompt_id") == queued["prompt_id"]:
                        if data["data"]["node"] is None:
                            break
                        current = data["data"]["node"]
                    continue
                assert message.type == WSMsgType.BINARY
                if current == "save_image_websocket_node":
                    assert decode_frame_header(message.data) == (PREVIEW_IMAGE, FORMAT_PNG)
                    images.append(message.data[8:])
            assert len(images) == 2, round_
            for png in images:
                with Image.open(io.BytesIO(png)) as picture:
                    assert picture.format == "PNG" and picture.size == (64, 64)
        await ws.close()
    assert sorted((base / "output").rglob("*.png")) == saved_before
