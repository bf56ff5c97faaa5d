"""The app routes ComfyUI's frontend reads besides the core API: jobs, logs, folders,
features, pack content, templates, mask upload and image variants; real files throughout."""
from __future__ import annotations

import asyncio
import io
import json
import logging

import numpy as np
from aiohttp import FormData
from PIL import Image, PngImagePlugin

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


def png(size=(16, 16), color=(200, 40, 40, 255), mode="RGBA", text=None) -> bytes:
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.new(mode, size, color[: len(mode)]).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


# -- jobs -------------------------------------------------------------------------------


@async_test
async def test_jobs_list_running_pending_finished_and_one_by_id(tmp_path):
    GATE.clear()
    GATE_ENTERED.clear()
    try:
        async with make_client(tmp_path) as client:
            done = await queue_prompt(client, sink_workflow(1),
                                      extra_data={"extra_pnginfo": {"workflow": {"id": "wf-1"}}})
            await wait_for_history(client, done["prompt_id"])
            running = await queue_prompt(client, gated_workflow())
            pending = await queue_prompt(client, sink_workflow(2))
            for _ in range(500):
                if GATE_ENTERED.is_set():
                    break
                await asyncio.sleep(0.01)
            listing = await (await client.get("/api/jobs")).json()
            by_id = {job["id"]: job for job in listing["jobs"]}
            assert by_id[done["prompt_id"]]["status"] == "completed"
            assert by_id[done["prompt_id"]]["workflow_id"] == "wf-1"
            assert by_id[running["prompt_id"]]["status"] == "in_progress"
            assert by_id[pending["prompt_id"]]["status"] == "pending"
            assert listing["pagination"] == {"offset": 0, "limit": None, "total": 3, "has_more": False}
            assert [j["id"] for j in listing["jobs"]] == [pending["prompt_id"], running["prompt_id"], done["prompt_id"]]
            page = await (await client.get("/jobs?limit=1&offset=1&sort_order=asc")).json()
            assert [j["id"] for j in page["jobs"]] == [running["prompt_id"]] and page["pagination"]["has_more"]
            only = await (await client.get("/jobs?status=pending,in_progress")).json()
            assert {j["status"] for j in only["jobs"]} == {"pending", "in_progress"}
            mine = await (await client.get("/jobs?workflow_id=wf-1")).json()
            assert [j["id"] for j in mine["jobs"]] == [done["prompt_id"]]
            one = await (await client.get(f"/jobs/{done['prompt_id']}")).json()
            assert one["outputs"] == {"3": {"value": [2]}} and one["workflow"]["prompt"]["1"]["class_type"] == "IntConst"
            assert one["execution_end_time"] >= one["execution_start_time"] > 0
            assert (await (await client.get(f"/jobs/{pending['prompt_id']}")).json())["status"] == "pending"
            assert (await client.get("/jobs/nope")).status == 404
            await client.post("/interrupt")
            entry = await wait_for_history(client, running["prompt_id"])
            assert entry["status"]["status_str"] == "error"
            assert (await (await client.get(f"/jobs/{running['prompt_id']}")).json())["status"] == "cancelled"
    finally:
        GATE.set()


@async_test
async def test_jobs_refuse_bad_queries_and_keep_tokens_out(tmp_path):
    async with make_client(tmp_path) as client:
        for query in ("status=done", "sort_by=name", "sort_order=up", "limit=0", "limit=x", "offset=x"):
            answer = await client.get(f"/jobs?{query}")
            assert answer.status == 400 and (await answer.json())["error"]["message"], query
        queued = await queue_prompt(client, sink_workflow(1), extra_data={"api_key_comfy_org": "secret"})
        await wait_for_history(client, queued["prompt_id"])
        one = await (await client.get(f"/jobs/{queued['prompt_id']}")).json()
        assert "api_key_comfy_org" not in one["workflow"]["extra_data"] and one["create_time"] > 0
        history = await (await client.get("/history")).text()
        assert "secret" not in history


# -- logs and folders -------------------------------------------------------------------


@async_test
async def test_logs_are_kept_and_streamed_to_subscribers(tmp_path):
    async with make_client(tmp_path) as client:
        ws = await client.ws_connect("/ws?clientId=watcher")
        await ws.receive_json()  # status
        logging.getLogger("studio.test").warning("first line")
        text = await (await client.get("/internal/logs")).json()
        assert "WARNING studio.test: first line" in text
        raw = await (await client.get("/internal/logs/raw")).json()
        assert raw["entries"][-1]["m"].endswith("first line\n") and set(raw["size"]) == {"cols", "rows"}
        assert (await client.patch("/internal/logs/subscribe", json={"clientId": "watcher", "enabled": True})).status == 200
        logging.getLogger("studio.test").warning("second line")
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "logs" and message["data"]["entries"][0]["m"].endswith("second line\n")
        for bad in ({"clientId": "watcher"}, {"enabled": True}, {"clientId": 1, "enabled": True}):
            assert (await client.patch("/internal/logs/subscribe", json=bad)).status == 400
        await client.patch("/internal/logs/subscribe", json={"clientId": "watcher", "enabled": False})
        await ws.close()


@async_test
async def test_folder_paths_and_files_newest_first(tmp_path):
    async with make_client(tmp_path) as client:
        paths = await (await client.get("/internal/folder_paths")).json()
        assert paths["checkpoints"] == [str(tmp_path / "models" / "checkpoints")]
        assert "loras" in paths and "text_encoders" in paths
        for example in (tmp_path / "input").glob("*.png"):  # the examples the server provides
            example.unlink()
        for index, name in enumerate(("old.png", "new.png")):
            (tmp_path / "input" / name).write_bytes(png())
            stamp = 1_700_000_000 + index * 100
            import os
            os.utime(tmp_path / "input" / name, (stamp, stamp))
        (tmp_path / "input" / ".hidden").write_text("x")
        assert await (await client.get("/internal/files/input")).json() == ["new.png", "old.png"]
        assert await (await client.get("/internal/files/temp")).json() == []
        assert (await client.get("/internal/files/models")).status == 400


@async_test
async def test_features_and_model_folders_with_details(tmp_path):
    checkpoints = tmp_path / "models" / "checkpoints"
    (checkpoints / "sub").mkdir(parents=True)
    (checkpoints / "sub" / "a.safetensors").write_bytes(b"x" * 10)
    async with make_client(tmp_path, max_upload_bytes=1234) as client:
        features = await (await client.get("/api/features")).json()
        assert features == {"supports_preview_metadata": False, "max_upload_size": 1234}
        folders = await (await client.get("/experiment/models")).json()
        names = [entry["name"] for entry in folders]
        assert "checkpoints" in names and "configs" not in names
        files = await (await client.get("/experiment/models/checkpoints")).json()
        assert files == [{"name": "sub/a.safetensors", "pathIndex": 0, "modified": files[0]["modified"],
                          "created": files[0]["created"], "size": 10}]
        assert (await client.get("/experiment/models/nothing")).status == 404
        Image.new("RGB", (4, 4), (0, 0, 255)).save(checkpoints / "sub" / "a.preview.png")
        picture = await client.get("/experiment/models/preview/checkpoints/0/sub/a.safetensors")
        assert picture.status == 200 and picture.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(await picture.read())).size == (4, 4)
        for bad in ("checkpoints/1/sub/a.safetensors", "checkpoints/0/missing.safetensors",
                    "checkpoints/0/..%2F..%2Fx.safetensors", "checkpoints/x/sub/a.safetensors"):
            assert (await client.get(f"/experiment/models/preview/{bad}")).status == 404, bad


@async_test
async def test_websocket_answers_feature_flags(tmp_path):
    async with make_client(tmp_path) as client:
        ws = await client.ws_connect("/ws")
        await ws.receive_json()
        await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "feature_flags" and reply["data"]["supports_preview_metadata"] is False
        await ws.send_str("not json")  # ignored, the socket stays open
        await ws.send_str(json.dumps({"type": "feature_flags"}))
        assert (await ws.receive_json(timeout=5))["type"] == "feature_flags"
        await ws.close()


# -- what packs ship ---------------------------------------------------------------------


@async_test
async def test_pack_translations_examples_and_subgraphs(tmp_path):
    pack = tmp_path / "packs" / "my_pack"
    (pack / "locales" / "zh").mkdir(parents=True)
    (pack / "locales" / "zh" / "main.json").write_text(json.dumps({"menu": {"hello": "你好"}}), encoding="utf-8")
    (pack / "locales" / "zh" / "nodeDefs.json").write_text(json.dumps({"MyNode": {"display_name": "我的"}}), encoding="utf-8")
    (pack / "locales" / "fr").mkdir()
    (pack / "locales" / "fr" / "main.json").write_text("{broken")
    (pack / "example_workflows").mkdir()
    (pack / "example_workflows" / "demo.json").write_text('{"nodes": []}')
    (pack / "subgraphs").mkdir()
    (pack / "subgraphs" / "blur.json").write_text('{"definitions": {}}')
    (pack / "subgraphs" / "folder.json").mkdir()  # not a file: left out
    (pack / "example_workflows" / "demo.jpg").write_bytes(b"\xff\xd8")
    client = make_client(tmp_path)
    from server.state import EXTENSIONS

    client.server.app[EXTENSIONS].pack_dirs["my_pack"] = pack
    async with client:
        i18n = await (await client.get("/i18n")).json()
        assert i18n == {"zh": {"menu": {"hello": "你好"}, "nodeDefs": {"MyNode": {"display_name": "我的"}}}}
        assert await (await client.get("/api/workflow_templates")).json() == {"my_pack": ["demo"]}
        demo = await client.get("/api/workflow_templates/my_pack/demo.json")
        assert demo.status == 200 and await demo.json() == {"nodes": []}
        thumbnail = await client.get("/api/workflow_templates/my_pack/demo.jpg")
        assert thumbnail.headers["Content-Type"] == "image/jpeg"
        for bad in ("/workflow_templates/my_pack/..%2Fsubgraphs%2Fblur.json", "/workflow_templates/other/demo.json",
                    "/workflow_templates/my_pack/missing.json"):
            assert (await client.get(bad)).status == 404, bad
        listing = await (await client.get("/global_subgraphs")).json()
        (key, entry), = listing.items()
        assert entry == {"source": "custom_node", "name": "blur", "info": {"node_pack": "custom_nodes.my_pack"}}
        one = await (await client.get(f"/global_subgraphs/{key}")).json()
        assert one["data"] == '{"definitions": {}}' and "path" not in one
        assert (await client.get("/global_subgraphs/unknown")).status == 404


@async_test
async def test_templates_are_the_shipped_workflows_as_ui_graphs(tmp_path):
    from nodes.registry import REGISTRY

    async with make_client(tmp_path, registry=REGISTRY) as client:
        index = await client.get("/templates/index.json")
        assert index.headers["Content-Type"].startswith("application/json")
        (category,) = await index.json()
        names = [t["name"] for t in category["templates"]]
        assert "txt2img" in names and category["moduleName"] == "default"
        graph = await (await client.get("/templates/txt2img.json")).json()
        by_type = {node["type"]: node for node in graph["nodes"]}
        assert {"CheckpointLoaderSimple", "KSampler", "SaveImage"} <= set(by_type)
        sampler = by_type["KSampler"]
        assert [i["name"] for i in sampler["inputs"]] == ["model", "positive", "negative", "latent_image"]
        assert sampler["widgets_values"][1] == "fixed" and len(sampler["widgets_values"]) == 7
        ids = {node["id"] for node in graph["nodes"]}
        for link_id, origin, _, target, _, _ in graph["links"]:
            assert origin in ids and target in ids
        assert (await client.get("/templates/nothing.json")).status == 404
        thumbnail = await client.get("/templates/txt2img-1.webp")
        assert thumbnail.headers["Content-Type"] == "image/webp"
        picture = np.asarray(Image.open(io.BytesIO(await thumbnail.read())).convert("RGB"))
        assert picture.shape == (512, 512, 3) and len(np.unique(picture.reshape(-1, 3), axis=0)) > 10
        assert (await client.get("/templates/..%2Fserver%2Fapp.py")).status == 404


# -- mask upload and image variants ------------------------------------------------------


async def _upload(client, route: str, data: bytes, name: str, **fields) -> object:
    form = FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    for key, value in fields.items():
        form.add_field(key, value)
    return await client.post(route, data=form)


@async_test
async def test_mask_upload_puts_the_mask_into_the_originals_alpha(tmp_path):
    async with make_client(tmp_path) as client:
        original = png((8, 8), (10, 200, 30), mode="RGB", text={"workflow": '{"nodes": []}'})
        await _upload(client, "/upload/image", original, "photo.png")
        mask = np.full((8, 8, 4), 255, np.uint8)
        mask[:, :4, 3] = 0  # the left half painted
        mask_png = io.BytesIO()
        Image.fromarray(mask, "RGBA").save(mask_png, format="PNG")
        ref = json.dumps({"filename": "photo.png", "subfolder": "", "type": "input"})
        answer = await _upload(client, "/api/upload/mask", mask_png.getvalue(), "clipspace-mask.png",
                               type="input", subfolder="clipspace", original_ref=ref)
        assert answer.status == 200
        assert await answer.json() == {"name": "clipspace-mask.png", "subfolder": "clipspace", "type": "input"}
        saved = Image.open(tmp_path / "input" / "clipspace" / "clipspace-mask.png")
        assert saved.mode == "RGBA" and saved.text["workflow"] == '{"nodes": []}'
        pixels = np.asarray(saved)
        assert (pixels[:, :4, 3] == 0).all() and (pixels[:, 4:, 3] == 255).all()
        assert pixels[0, 6, :3].tolist() == [10, 200, 30]
        again = await _upload(client, "/upload/mask", mask_png.getvalue(), "clipspace-mask.png",
                              type="input", subfolder="clipspace", original_ref=ref)
        assert (await again.json())["name"] == "clipspace-mask.png"  # the same bytes again: no copy


@async_test
async def test_mask_fits_a_photo_turned_by_its_exif_orientation(tmp_path):
    async with make_client(tmp_path) as client:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored 8 wide and 4 high, shown turned: 4 wide and 8 high
        photo = io.BytesIO()
        Image.new("RGB", (8, 4), (200, 40, 40)).save(photo, format="JPEG", exif=exif.tobytes())
        await _upload(client, "/upload/image", photo.getvalue(), "photo.jpg")
        shown = await client.get("/view", params={"filename": "photo.jpg", "type": "input", "channel": "rgb"})
        assert Image.open(io.BytesIO(await shown.read())).size == (4, 8)  # as the browser shows the file
        mask = np.full((8, 4, 4), 255, np.uint8)
        mask[:2, :, 3] = 0  # the top two rows painted
        mask_png = io.BytesIO()
        Image.fromarray(mask, "RGBA").save(mask_png, format="PNG")
        ref = json.dumps({"filename": "photo.jpg", "type": "input"})
        answer = await _upload(client, "/upload/mask", mask_png.getvalue(), "photo-mask.png",
                               type="input", subfolder="clipspace", original_ref=ref)
        assert answer.status == 200, await answer.text()
        saved = np.asarray(Image.open(tmp_path / "input" / "clipspace" / "photo-mask.png"))
        assert saved.shape == (8, 4, 4) and (saved[:2, :, 3] == 0).all() and (saved[2:, :, 3] == 255).all()


@async_test
async def test_mask_upload_refusals(tmp_path):
    async with make_client(tmp_path) as client:
        await _upload(client, "/upload/image", png((8, 8)), "photo.png")
        good_ref = json.dumps({"filename": "photo.png", "type": "input"})
        cases = [
            (png((8, 8)), {"original_ref": "not json"}, 400),
            (png((8, 8)), {"original_ref": json.dumps({"type": "input"})}, 400),
            (png((8, 8)), {"original_ref": json.dumps({"filename": "../../etc/passwd", "type": "input"})}, 403),
            (png((8, 8)), {"original_ref": json.dumps({"filename": "photo.png", "type": "models"})}, 400),
            (png((8, 8)), {"original_ref": json.dumps({"filename": "missing.png", "type": "input"})}, 404),
            (png((4, 4)), {"original_ref": good_ref}, 400),
            (b"not an image", {"original_ref": good_ref}, 400),
        ]
        for data, fields, status in cases:
            answer = await _upload(client, "/upload/mask", data, "m.png", type="input", **fields)
            assert answer.status == status, (fields, await answer.text())
            assert (await answer.json())["error"]["message"]
        assert not (tmp_path / "input" / "m.png").exists()


@async_test
async def test_view_previews_and_channels(tmp_path):
    async with make_client(tmp_path) as client:
        rgba = np.zeros((8, 8, 4), np.uint8)
        rgba[..., 0], rgba[..., 3] = 255, 80
        data = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(data, format="PNG")
        await _upload(client, "/upload/image", data.getvalue(), "half.png", type="output")
        base = "/view?filename=half.png&type=output"
        webp = await client.get(base + "&preview=webp;50")
        assert webp.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(await webp.read())).mode == "RGBA"
        jpeg = await client.get(base + "&preview=jpeg;80")
        assert jpeg.headers["Content-Type"] == "image/jpeg"
        jpeg_alpha = await client.get(base + "&preview=jpeg;80&channel=a")
        assert jpeg_alpha.headers["Content-Type"] == "image/webp"  # alpha needs webp
        rgb = Image.open(io.BytesIO(await (await client.get(base + "&channel=rgb")).read()))
        assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (255, 0, 0)
        alpha = Image.open(io.BytesIO(await (await client.get(base + "&channel=a")).read()))
        assert alpha.mode == "RGBA" and alpha.getpixel((0, 0)) == (0, 0, 0, 80)
        as_is = await client.get(base + "&channel=x")  # another channel: the file as it is, as ComfyUI does
        assert as_is.headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(await as_is.read())).mode == "RGBA"
        (tmp_path / "output" / "note.txt").write_text("hello")
        assert (await client.get("/view?filename=note.txt&type=output&preview=webp")).status == 400


@async_test
async def test_view_metadata_reads_the_safetensors_header(tmp_path):
    import torch
    from safetensors.torch import save_file

    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(loras / "style.safetensors"), metadata={"ss_network_dim": "16"})
    save_file({"w": torch.zeros(2)}, str(loras / "bare.safetensors"))
    (loras / "broken.safetensors").write_bytes(b"\xff" * 16)
    async with make_client(tmp_path) as client:
        answer = await client.get("/api/view_metadata/loras?filename=style.safetensors")
        assert answer.status == 200 and await answer.json() == {"ss_network_dim": "16"}
        assert (await client.get("/view_metadata/loras?filename=bare.safetensors")).status == 404
        assert (await client.get("/view_metadata/loras?filename=broken.safetensors")).status == 400
        assert (await client.get("/view_metadata/loras?filename=..%2F..%2Fx.safetensors")).status == 404
        assert (await client.get("/view_metadata/nothing?filename=style.safetensors")).status == 404
        assert (await client.get("/view_metadata/loras?filename=style.ckpt")).status == 404


@async_test
async def test_templates_come_from_the_installed_templates_package(tmp_path, monkeypatch):
    import sys
    import types

    from server import routes_templates

    assets = tmp_path / "bundle"
    assets.mkdir()
    (assets / "index.json").write_text('[{"moduleName": "default", "templates": [{"name": "flux"}]}]')
    (assets / "flux.json").write_text('{"nodes": []}')
    entry = types.SimpleNamespace(template_id="flux", assets=[types.SimpleNamespace(filename="index.json"),
                                                              types.SimpleNamespace(filename="flux.json"),
                                                              types.SimpleNamespace(filename="flux-1.webp")])

    def get_asset_path(template_id, filename):
        if not (assets / filename).exists():
            raise FileNotFoundError(filename)  # its media bundle is not installed
        return str(assets / filename)

    package = types.ModuleType("comfyui_workflow_templates")
    package.iter_templates, package.get_asset_path = (lambda: [entry]), get_asset_path
    monkeypatch.setitem(sys.modules, "comfyui_workflow_templates", package)
    routes_templates.package_assets.cache_clear()
    try:
        async with make_client(tmp_path) as client:
            index = await (await client.get("/templates/index.json")).text()
            assert json.loads(index)[0]["templates"] == [{"name": "flux"}]
            assert await (await client.get("/templates/flux.json")).json() == {"nodes": []}
            assert (await client.get("/templates/flux-1.webp")).status == 404
            assert (await client.get("/templates/txt2img.json")).status == 404
    finally:
        routes_templates.package_assets.cache_clear()


@async_test
async def test_a_client_chosen_create_time_does_not_break_the_job_list(tmp_path):
    async with make_client(tmp_path) as client:
        queued = await queue_prompt(client, sink_workflow(1), extra_data={"create_time": "yesterday"})
        await wait_for_history(client, queued["prompt_id"])
        listing = await client.get("/jobs")
        assert listing.status == 200
        assert isinstance((await listing.json())["jobs"][0]["create_time"], int)


@async_test
async def test_log_subscribers_are_dropped_when_they_disconnect(tmp_path):
    from server.state import LOGS

    async with make_client(tmp_path) as client:
        ws = await client.ws_connect("/ws?clientId=gone")
        await ws.receive_json()
        await client.patch("/internal/logs/subscribe", json={"clientId": "gone", "enabled": True})
        assert "gone" in client.server.app[LOGS].subscribers
        await ws.close()
        for _ in range(100):
            if "gone" not in client.server.app[LOGS].subscribers:
                break
            await asyncio.sleep(0.02)
        assert "gone" not in client.server.app[LOGS].subscribers


def test_api_to_ui_gives_plain_seeds_their_control_and_keeps_forced_inputs_as_sockets():
    from server.api_to_ui import api_to_ui

    schemas = {
        "Src": {"input": {"required": {}}, "output": ["STRING"], "output_name": ["text"]},
        "Pack": {"input": {"required": {"seed": ["INT", {"default": 0}], "text": ["STRING", {"forceInput": True}],
                                        "steps": ["INT", {"default": 4}]}},
                 "input_order": {"required": ["seed", "text", "steps"]}, "output": [], "output_name": []},
    }
    prompt = {"1": {"class_type": "Src", "inputs": {}},
              "2": {"class_type": "Pack", "inputs": {"seed": 5, "text": ["1", 0], "steps": 9}}}
    node = next(n for n in api_to_ui(prompt, schemas)["nodes"] if n["type"] == "Pack")
    assert node["widgets_values"] == [5, "fixed", 9]
    assert node["inputs"] == [{"name": "text", "type": "STRING", "link": 1}]
