"""The file routes (/view, /view_metadata, /upload/image, /upload/mask, /userdata...)
answer odd names with a 4xx that says what is wrong: names too long for the file system,
NUL bytes, lone surrogates, names of folders. No answer is a 500, none quotes where the
server keeps its files, and no failed upload leaves a file behind."""
from __future__ import annotations

import errno
import io
import json
import logging
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from yarl import URL

import server.uploads
from server.app import create_app
from tests.server_support import async_test, make_client, make_config

SURROGATE = "\ud800"
ODD_NAMES = [
    "a" * 300,
    "a" * 300 + ".png",
    "d/" * 600 + "x.png",  # over the whole-name limit
    "a\x00b.png",
    SURROGATE + ".png",
    "sub",  # a folder in input/, output/, temp/ and the user's folder
    "sub/",
    "orig.png/x.png",  # a file where a folder should be
    "%ED%A0%80",
    "%25ED%25A0%2580",
    "\x01\x7f.png",
]
SUBFOLDERS = ["", "sub", "b" * 300, "d/" * 2040, "orig.png", "a\x00b", SURROGATE]


def png_bytes(mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (4, 4)).save(out, format="PNG")
    return out.getvalue()


def encoded(name: str) -> str:
    """A name as a URL carries it, lone surrogates as the bytes they would be."""
    return quote(name.encode("utf-8", "surrogatepass"), safe="")


def url(route: str, **query: str) -> URL:
    text = route + ("?" + "&".join(f"{k}={encoded(v)}" for k, v in query.items()) if query else "")
    return URL(text, encoded=True)


def multipart(filename: str, data: bytes, **fields: str) -> tuple[bytes, dict]:
    """Multipart written by hand: the file name goes out byte for byte, NUL and all."""
    boundary = "hardening-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n")
    parts = [head.encode("utf-8", "surrogatepass") + data + b"\r\n"]
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode("utf-8", "surrogatepass") + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def prepare_folders(base: Path) -> None:
    for folder in ("input", "output", "temp", "user/default"):
        (base / folder / "sub").mkdir(parents=True, exist_ok=True)
    (base / "input" / "orig.png").write_bytes(png_bytes())
    (base / "output" / "orig.png").write_bytes(png_bytes())
    (base / "user" / "default" / "ok.json").write_text("{}")


def hidden_files(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob(".*"))


async def discreet_body(response, base: Path, label: str) -> str:
    """The body, checked to say nothing of where the server keeps its files."""
    text = (await response.read()).decode("utf-8", errors="replace")
    for secret in {str(base), str(base.resolve())}:
        assert secret not in text, (label, text)
    assert "Traceback" not in text, (label, text)
    return text


async def check_answer(response, base: Path, label: str) -> str:
    """No 5xx, and a discreet body."""
    text = await discreet_body(response, base, label)
    assert response.status < 500, (label, response.status, text)
    return text


def requests_for(name: str, subfolder: str):
    """(label, method, url, body, headers) for every file route, `name` in each name slot."""
    ref = json.dumps({"filename": name, "subfolder": subfolder, "type": "input"})
    good_ref = json.dumps({"filename": "orig.png", "type": "input"})
    for overwrite in ("true", "false"):
        body, headers = multipart(name, png_bytes(), subfolder=subfolder, overwrite=overwrite, type="input")
        yield "upload", "POST", url("/upload/image"), body, headers
        body, headers = multipart(name, png_bytes("RGBA"), subfolder=subfolder, overwrite=overwrite,
                                  original_ref=good_ref, type="input")
        yield "mask", "POST", url("/upload/mask"), body, headers
    body, headers = multipart("m.png", png_bytes("RGBA"), original_ref=ref)
    yield "mask ref", "POST", url("/upload/mask"), body, headers
    for folder_type in ("input", "output"):
        yield "view", "GET", url("/view", filename=name, subfolder=subfolder, type=folder_type), None, {}
    yield "preview", "GET", url("/view", filename=name, type="input", preview="webp;50", channel="a"), None, {}
    yield "metadata", "GET", url("/view_metadata/checkpoints", filename=name + ".safetensors"), None, {}
    segment = encoded(name)
    for method in ("GET", "POST", "DELETE"):
        yield "userdata", method, url(f"/userdata/{segment}"), b"{}", {}
    yield "move from", "POST", url(f"/userdata/{segment}/move/x.json"), None, {}
    yield "move to", "POST", url(f"/userdata/ok.json/move/{segment}", overwrite="false"), None, {}
    yield "list", "GET", url("/userdata", dir=name), None, {}
    yield "tree", "GET", url("/v2/userdata", path=name), None, {}


@async_test
async def test_odd_names_on_every_file_route_get_a_4xx_without_paths(tmp_path):
    prepare_folders(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        seen_statuses = set()
        for name in ODD_NAMES:
            for label, method, target, body, headers in requests_for(name, ""):
                for prefix in ("", "/api"):
                    response = await client.request(method, URL(prefix + str(target), encoded=True),
                                                    data=body, headers=headers)
                    await check_answer(response, tmp_path, f"{method} {prefix}{label} {name[:20]!r}")
                    seen_statuses.add(response.status)
        for subfolder in SUBFOLDERS:
            for label, method, target, body, headers in requests_for("s.png", subfolder):
                if label in ("upload", "mask", "mask ref", "view"):
                    response = await client.request(method, target, data=body, headers=headers)
                    await check_answer(response, tmp_path, f"{label} subfolder {subfolder[:20]!r}")
        assert {400, 404, 409} <= seen_statuses
        assert (await client.get("/view", params={"filename": "orig.png", "type": "input"})).status == 200
    assert hidden_files(tmp_path) == []


@pytest.mark.parametrize("params, problem", [
    ({"filename": "a" * 300}, "255 bytes"),
    ({"filename": "x.png", "subfolder": "b" * 300}, "255 bytes"),
    ({"filename": "x.png", "subfolder": "d/" * 600}, "1024 bytes"),
    ({"filename": "a\x00b.png"}, "NUL"),
])
@async_test
async def test_view_refuses_names_the_file_system_cannot_hold(tmp_path, params, problem):
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.get("/view", params=params)
        text = await check_answer(response, tmp_path, str(params)[:40])
        assert response.status == 400 and problem in (await response.json())["error"]["message"], text


@async_test
async def test_view_of_a_folder_says_it_is_a_folder(tmp_path):
    prepare_folders(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.get("/view", params={"filename": "sub", "type": "input"})
        assert response.status == 404
        assert (await response.json())["error"]["message"] == "'sub' in input/ is a folder, not a file"


@pytest.mark.parametrize("route", ["/upload/image", "/upload/mask"])
@async_test
async def test_nul_in_an_upload_file_name_is_400(tmp_path, route):
    prepare_folders(tmp_path)
    ref = json.dumps({"filename": "orig.png", "type": "input"})
    async with make_client(tmp_path, start_worker=False) as client:
        body, headers = multipart("a\x00b.png", png_bytes("RGBA"), original_ref=ref)
        response = await client.post(route, data=body, headers=headers)
        await check_answer(response, tmp_path, "raw NUL")
        assert response.status == 400 and "NUL" in (await response.json())["error"]["message"]
        body, headers = multipart('x"; filename*=UTF-8\'\'a%00b.png; x="', png_bytes("RGBA"), original_ref=ref)
        response = await client.post(route, data=body, headers=headers)
        assert response.status == 400 and "NUL" in (await response.json())["error"]["message"]
    assert sorted(p.name for p in (tmp_path / "input").iterdir() if "b.png" in p.name) == []


MALFORMED_UPLOADS = [
    ("multipart/form-data", b"--x\r\n"),  # no boundary
    ("multipart/form-data; boundary=" + "x" * 80, b"--x\r\n"),
    ("multipart/form-data; boundary=x", b"no boundary in here"),
    ("multipart/form-data; boundary=x",  # cut off in the middle of the image
     b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nab'),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="im\x00age"\r\n\r\nab\r\n--x--\r\n'),
]


@pytest.mark.parametrize("content_type, body", MALFORMED_UPLOADS)
@async_test
async def test_malformed_multipart_is_400(tmp_path, content_type, body):
    async with make_client(tmp_path, start_worker=False) as client:
        for route in ("/upload/image", "/upload/mask"):
            response = await client.post(route, data=body, headers={"Content-Type": content_type})
            await check_answer(response, tmp_path, route)
            assert response.status == 400 and (await response.json())["error"]["message"]


@pytest.mark.parametrize("route", ["/upload/image", "/upload/mask"])
@async_test
async def test_overwriting_a_folder_is_409_and_leaves_no_temporary_file(tmp_path, route):
    prepare_folders(tmp_path)
    ref = json.dumps({"filename": "orig.png", "type": "input"})
    async with make_client(tmp_path, start_worker=False) as client:
        for _ in range(3):
            body, headers = multipart("sub", png_bytes("RGBA"), overwrite="true", original_ref=ref)
            response = await client.post(route, data=body, headers=headers)
            await check_answer(response, tmp_path, "over a folder")
            assert response.status == 409
            assert "a folder named 'sub' is in input/" in (await response.json())["error"]["message"]
        body, headers = multipart("x.png", png_bytes("RGBA"), subfolder="orig.png", original_ref=ref)
        response = await client.post(route, data=body, headers=headers)
        assert response.status == 409 and "in the way" in (await response.json())["error"]["message"]
    assert (tmp_path / "input" / "sub").is_dir()
    assert hidden_files(tmp_path) == []


class FullDiskFile(io.FileIO):
    """A file whose writes fail as on a full disk."""

    def write(self, _data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", self.name)


@async_test
async def test_failed_uploads_leave_nothing_behind(tmp_path, monkeypatch):
    prepare_folders(tmp_path)
    async with make_client(tmp_path, start_worker=False, max_upload_bytes=20_000) as client:
        before = sorted(p.name for p in (tmp_path / "input").iterdir())
        for data, status in ((b"not an image", 400), (os.urandom(30_000), 413)):
            body, headers = multipart("new.png", data, overwrite="true")
            assert (await client.post("/upload/image", data=body, headers=headers)).status == status

        monkeypatch.setattr(server.uploads, "open", FullDiskFile, raising=False)
        body, headers = multipart("new.png", png_bytes(), overwrite="false")
        response = await client.post("/upload/image", data=body, headers=headers)
        await discreet_body(response, tmp_path, "disk full, new name")
        assert response.status == 507 and "disk is full" in (await response.json())["error"]["message"]

        def disk_full(*_args):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "input" / "new.png"))

        monkeypatch.setattr(os, "replace", disk_full)
        body, headers = multipart("new.png", png_bytes(), overwrite="true")
        response = await client.post("/upload/image", data=body, headers=headers)
        await discreet_body(response, tmp_path, "disk full, replacing")
        assert response.status == 507 and "disk is full" in (await response.json())["error"]["message"]

        monkeypatch.setattr(os, "replace", lambda *_: 1 / 0)
        response = await client.post("/upload/image", data=body, headers=headers)
        await discreet_body(response, tmp_path, "a bug")
        assert response.status == 500
        assert sorted(p.name for p in (tmp_path / "input").iterdir()) == before
    assert hidden_files(tmp_path) == []


@async_test
async def test_unreadable_files_are_refused_without_their_path(tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "bad.safetensors").write_bytes(b"\xff" * 64)
    async with make_client(tmp_path, start_worker=False) as client:
        for params in ({"filename": "broken.png", "preview": "webp;80"}, {"filename": "broken.png", "channel": "a"}):
            response = await client.get("/view", params=params)
            await check_answer(response, tmp_path, str(params))
            assert response.status == 400 and "broken.png" in (await response.json())["error"]["message"]
        response = await client.get("/view_metadata/checkpoints", params={"filename": "bad.safetensors"})
        await check_answer(response, tmp_path, "metadata")
        assert response.status == 400


@async_test
async def test_user_files_named_like_folders(tmp_path):
    prepare_folders(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        got = await client.get("/userdata/sub")
        assert got.status == 404 and "is a folder" in (await got.json())["error"]["message"]
        written = await client.post("/userdata/sub", data=b"{}")
        assert written.status == 409 and "folder" in (await written.json())["error"]["message"]
        moved = await client.post("/userdata/ok.json/move/sub")
        assert moved.status == 409 and "folder" in (await moved.json())["error"]["message"]
        blocked = await client.post("/userdata/ok.json%2Fx.json", data=b"{}")
        assert blocked.status == 409 and "in the way" in (await blocked.json())["error"]["message"]
        assert (await client.get("/userdata/ok.json")).status == 200
    assert hidden_files(tmp_path) == []


@async_test
async def test_an_unexpected_error_is_an_opaque_logged_500(tmp_path, caplog):
    secret = str(tmp_path / "secret" / "place")

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError(f"failed at {secret}")

    def prepare(app: web.Application) -> None:
        app.router.add_get("/broken", broken)

    app = create_app(make_config(tmp_path, start_worker=False), prepare=prepare)
    with caplog.at_level(logging.ERROR, logger="server.security"):
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/broken")
            assert response.status == 500
            assert await response.json() == {"error": {"type": "server_error",
                                                       "message": "internal error (see the server log)",
                                                       "details": "", "extra_info": {}}}
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and secret in str(logged[0].exc_info[1])
