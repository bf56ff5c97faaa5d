"""Refusals: paths leaving their folders, oversize and non-image uploads, decompression
bombs, foreign origins, malformed JSON and wrong types. Each gets a 4xx with a JSON
message, and the server answers normally afterwards."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from aiohttp import FormData
from PIL import Image

from server.config import ServerConfig
from server.example_inputs import EXAMPLES
from server.security import origin_allowed
from tests.server_support import async_test, make_client, queue_prompt, sink_workflow, wait_for_history


def uploaded_files(base) -> list[str]:
    """The input folder's files besides the examples the server puts there at start."""
    examples = {p.name for p in EXAMPLES.glob("*.png")}
    return [p.name for p in (base / "input").iterdir() if p.name not in examples]


def png_bytes(size=(4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (9, 9, 9)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: IHDR, an empty IDAT and IEND (a few dozen bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


async def still_serving(client) -> None:
    response = await client.get("/prompt")
    assert response.status == 200 and "exec_info" in await response.json()


async def assert_json_error(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["message"]
    return body


def upload_form(data: bytes, filename: str = "a.png", **fields: str) -> FormData:
    form = FormData()
    form.add_field("image", data, filename=filename, content_type="image/png")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


def raw_multipart(data: bytes, filename: str, **fields: str) -> tuple[bytes, dict]:
    """Multipart written by hand: aiohttp's client would percent-encode a '/' in the name."""
    boundary = "studio-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
    ]
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    "params",
    [
        {"filename": "../secret.txt"},
        {"filename": "secret.txt", "subfolder": ".."},
        {"filename": "/etc/passwd"},
        {"filename": "x", "subfolder": "/etc"},
        {"filename": "..\\secret.txt"},
        {"filename": "link/secret.txt", "type": "input"},
    ],
)
@async_test
async def test_view_refuses_paths_that_leave_the_folder(tmp_path, params):
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "link").symlink_to(tmp_path)
    async with make_client(tmp_path) as client:
        response = await client.get("/view", params=params)
        assert 400 <= response.status < 500
        assert "secret" != await response.text()
        await still_serving(client)


@pytest.mark.parametrize(
    "filename, fields",
    [
        ("../evil.png", {}),
        ("evil.png", {"subfolder": "../.."}),
        ("evil.png", {"subfolder": "/tmp"}),
        ("sub/evil.png", {}),
        ("/tmp/evil.png", {}),
        ("evil.png", {"type": "models"}),
        ("", {}),
    ],
)
@async_test
async def test_upload_refuses_paths_that_leave_the_folder(tmp_path, filename, fields):
    async with make_client(tmp_path) as client:
        body, headers = raw_multipart(png_bytes(), filename, **fields)
        response = await client.post("/upload/image", data=body, headers=headers)
        assert 400 <= response.status < 500
        await assert_json_error(response, response.status)
        assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()
        await still_serving(client)


@async_test
async def test_upload_through_a_symlink_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "escape").symlink_to(outside)
    async with make_client(tmp_path) as client:
        response = await client.post("/upload/image", data=upload_form(png_bytes(), subfolder="escape"))
        await assert_json_error(response, 403)
        assert list(outside.iterdir()) == []


@async_test
async def test_oversize_upload_is_refused(tmp_path):
    async with make_client(tmp_path, max_upload_bytes=10_000) as client:
        big = png_bytes() + b"\0" * 20_000
        response = await client.post("/upload/image", data=upload_form(big))
        await assert_json_error(response, 413)
        await still_serving(client)


@async_test
async def test_non_image_upload_is_refused(tmp_path):
    async with make_client(tmp_path) as client:
        response = await client.post("/upload/image", data=upload_form(b"<html>not an image</html>", "a.png"))
        body = await assert_json_error(response, 400)
        assert body["error"]["type"] == "invalid_image"
        truncated = png_bytes((64, 64))[:60]
        response = await client.post("/upload/image", data=upload_form(truncated, "b.png"))
        await assert_json_error(response, 400)
        response = await client.post("/upload/image", data=b"raw", headers={"Content-Type": "image/png"})
        await assert_json_error(response, 400)
        assert uploaded_files(tmp_path) == []
        await still_serving(client)


@pytest.mark.parametrize("side", [10_000, 20_000])  # over the warning limit; over the error limit
@async_test
async def test_decompression_bomb_is_refused(tmp_path, side):
    assert Image.MAX_IMAGE_PIXELS is not None
    async with make_client(tmp_path) as client:
        response = await client.post("/upload/image", data=upload_form(png_header_only(side, side)))
        body = await assert_json_error(response, 413)
        assert body["error"]["type"] == "image_too_large"
        assert uploaded_files(tmp_path) == []
        await still_serving(client)


@async_test
async def test_foreign_origin_is_refused_on_post_and_websocket(tmp_path):
    async with make_client(tmp_path) as client:
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{client.port + 1}"):
            response = await client.post("/prompt", json={"prompt": sink_workflow(1)}, headers={"Origin": origin})
            await assert_json_error(response, 403)
            response = await client.post("/queue", json={"clear": True}, headers={"Origin": origin})
            await assert_json_error(response, 403)
        with pytest.raises(Exception):
            await client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
        assert (await (await client.get("/queue")).json())["queue_pending"] == []
        for origin in (f"http://127.0.0.1:{client.port}", f"http://localhost:{client.port}"):
            queued = await queue_prompt(client, sink_workflow(2), extra_data={}, **{})
            response = await client.post("/interrupt", headers={"Origin": origin})
            assert response.status == 200
            await wait_for_history(client, queued["prompt_id"])
        response = await client.get("/queue", headers={"Origin": "http://evil.example"})
        assert response.status == 200  # reading is the browser's same-origin policy's job


@async_test
async def test_rebound_host_name_is_refused(tmp_path):
    async with make_client(tmp_path) as client:
        response = await client.get("/history", headers={"Host": f"attacker.example:{client.port}"})
        await assert_json_error(response, 403)
        await still_serving(client)


@async_test
async def test_origin_checks_are_off_when_listening_on_all_interfaces(tmp_path):
    async with make_client(tmp_path, hosts=("0.0.0.0",)) as client:
        response = await client.post("/interrupt", headers={"Origin": "http://studio.lan:8188"})
        assert response.status == 200


def test_origin_rules():
    assert origin_allowed("http://127.0.0.1:8188", "127.0.0.1:8188", "http")
    assert origin_allowed("http://localhost:8188", "127.0.0.1:8188", "http")
    assert not origin_allowed("http://localhost:8189", "127.0.0.1:8188", "http")
    assert not origin_allowed("https://evil.example", "127.0.0.1:8188", "http")
    assert not origin_allowed("null", "127.0.0.1:8188", "http")
    assert ServerConfig(base_dir=".", hosts="127.0.0.1,::1").loopback_only
    assert not ServerConfig(base_dir=".", hosts=("0.0.0.0",)).loopback_only
    with pytest.raises(ValueError, match="preview_method"):
        ServerConfig(base_dir=".", preview_method="taesd")


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/prompt", b"{not json"),
        ("/prompt", b""),
        ("/prompt", b"[1, 2]"),
        ("/prompt", b'{"prompt": NaN}'),
        ("/prompt", b'{"prompt": {}, "client_id": 5}'),
        ("/prompt", b'{"prompt": {}, "extra_data": []}'),
        ("/prompt", b'{"prompt": {}, "front": "yes"}'),
        ("/prompt", b'{"prompt": {}, "number": "1"}'),
        ("/prompt", b'{"prompt": "text"}'),
        ("/prompt", b'{"prompt": [1, 2]}'),
        ("/prompt", b'{"prompt": {"1": 5}}'),
        ("/prompt", b'{"prompt": {"1": {"class_type": 5, "inputs": {}}}}'),
        ("/prompt", b'{"prompt": {"1": {"class_type": "IntSink", "inputs": {"a": [1, 2, 3]}}}}'),
        ("/prompt", b'{"prompt": {"1": {"class_type": "IntSink", "inputs": {"a": ["9", 0]}}}}'),
        ("/prompt", b'{"prompt": {"1": {"class_type": "IntSink", "inputs": []}}}'),
        ("/prompt", b'{"prompt": {"1": {"class_type": "IntSink", "inputs": {"a": {"x": 1}}}}}'),
        ("/queue", b'{"delete": "abc"}'),
        ("/queue", b'{"delete": [1]}'),
        ("/queue", b'{"clear": 1}'),
        ("/history", b'{"clear": "yes"}'),
        ("/history", b"nope"),
        ("/interrupt", b'{"prompt_id": 3}'),
        ("/free", b'{"unload_models": "true"}'),
        ("/free", b"[]"),
    ],
)
@async_test
async def test_malformed_bodies_get_4xx_json(tmp_path, path, raw):
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.post(path, data=raw)
        await assert_json_error(response, 400)
        await still_serving(client)


@async_test
async def test_huge_body_is_refused(tmp_path):
    async with make_client(tmp_path, client_max_size=100_000) as client:
        raw = b'{"prompt": {"1": {"class_type": "IntConst", "inputs": {"value": "' + b"x" * 200_000 + b'"}}}}'
        response = await client.post("/prompt", data=raw)
        await assert_json_error(response, 413)
        await still_serving(client)


@async_test
async def test_bad_client_id_and_unknown_route(tmp_path):
    async with make_client(tmp_path) as client:
        response = await client.get("/ws", params={"clientId": "x" * 500})
        await assert_json_error(response, 400)
        await assert_json_error(await client.get("/api/nothing"), 404)
        await assert_json_error(await client.put("/prompt", data=b"{}"), 405)
        await still_serving(client)
