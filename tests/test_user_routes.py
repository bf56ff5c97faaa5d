"""Users, settings and user data routes through the test client, on real files."""
from __future__ import annotations

import json
import os

from tests.server_support import async_test, make_client

WF = "/userdata/workflows%2Fmy%20flow.json"


@async_test
async def test_single_user_reports_server_storage(tmp_path):
    async with make_client(tmp_path) as client:
        answer = await client.get("/api/users")
        assert answer.status == 200 and await answer.json() == {"storage": "server", "migrated": False}
        await client.get("/settings")
        assert (await (await client.get("/users")).json())["migrated"] is True
        refused = await client.post("/users", json={"username": "ann"})
        assert refused.status == 400 and "--multi-user" in (await refused.json())["error"]


@async_test
async def test_multi_user_adds_users_and_keeps_their_settings_apart(tmp_path):
    async with make_client(tmp_path, multi_user=True) as client:
        assert await (await client.get("/users")).json() == {"storage": "server", "users": {}}
        ann = await (await client.post("/users", json={"username": "Ann Lee"})).json()
        bob = await (await client.post("/users", json={"username": "bob"})).json()
        assert ann.startswith("Ann-Lee_") and bob.startswith("bob_")
        duplicate = await client.post("/users", json={"username": "bob"})
        assert duplicate.status == 400
        for bad in ({"username": ""}, {"username": "__system"}, {"name": "x"}, {"username": 5}):
            assert (await client.post("/users", json=bad)).status == 400, bad
        users = (await (await client.get("/users")).json())["users"]
        assert users == {ann: "Ann Lee", bob: "bob"}
        await client.post("/settings/Comfy.Locale", json="zh", headers={"Comfy-User": ann})
        assert await (await client.get("/settings/Comfy.Locale", headers={"Comfy-User": ann})).json() == "zh"
        assert await (await client.get("/settings/Comfy.Locale", headers={"Comfy-User": bob})).json() is None
        for header in ({"Comfy-User": "nobody"}, {"Comfy-User": "__system"}, {}):
            assert (await client.get("/settings", headers=header)).status == 401, header
        assert (tmp_path / "user" / ann / "comfy.settings.json").is_file()


@async_test
async def test_settings_merge_and_single_values(tmp_path):
    async with make_client(tmp_path) as client:
        assert await (await client.get("/settings")).json() == {}
        assert (await client.post("/settings", json={"a": 1, "b": {"c": [1, 2]}})).status == 200
        assert (await client.post("/api/settings", json={"a": 2})).status == 200
        assert (await client.post("/settings/Comfy.Minimap.Visible", json=False)).status == 200
        assert await (await client.get("/settings")).json() == {"a": 2, "b": {"c": [1, 2]}, "Comfy.Minimap.Visible": False}
        assert await (await client.get("/settings/b")).json() == {"c": [1, 2]}
        assert await (await client.get("/settings/missing")).json() is None
        stored = json.loads((tmp_path / "user" / "default" / "comfy.settings.json").read_text())
        assert stored["a"] == 2
        for bad in (b"[1, 2]", b"{not json", b""):
            assert (await client.post("/settings", data=bad)).status == 400, bad
        assert (await client.post("/settings/x", data=b"NaN")).status == 400


@async_test
async def test_a_broken_settings_file_is_kept_aside_before_it_is_replaced(tmp_path):
    folder = tmp_path / "user" / "default"
    folder.mkdir(parents=True)
    (folder / "comfy.settings.json").write_text("{broken")
    async with make_client(tmp_path) as client:
        assert await (await client.get("/settings")).json() == {}
        await client.post("/settings/x", json=1)
    assert (folder / "comfy.settings.json.bak").read_text() == "{broken"
    assert json.loads((folder / "comfy.settings.json").read_text()) == {"x": 1}


@async_test
async def test_userdata_write_read_list_move_delete(tmp_path):
    async with make_client(tmp_path) as client:
        assert (await client.get("/userdata?dir=workflows")).status == 404
        written = await client.post(WF, data=b'{"nodes": []}')
        assert written.status == 200 and await written.json() == "workflows/my flow.json"
        again = await client.post(WF + "?overwrite=false", data=b"{}")
        assert again.status == 409
        info = await (await client.post(WF + "?full_info=true", data=b'{"nodes": [1]}')).json()
        assert info["path"] == "workflows/my flow.json" and info["size"] == 14 and info["modified"] > 0
        assert await (await client.get(WF)).read() == b'{"nodes": [1]}'
        await client.post("/userdata/workflows%2Fsub%2Fdeep.json", data=b"{}")
        assert await (await client.get("/userdata?dir=workflows")).json() == ["my flow.json"]
        assert await (await client.get("/userdata?dir=workflows&recurse=true")).json() == ["my flow.json", "sub/deep.json"]
        split = await (await client.get("/userdata?dir=workflows&recurse=true&split=true")).json()
        assert split == [["my flow.json", "my flow.json"], ["sub/deep.json", "sub", "deep.json"]]
        full = await (await client.get("/api/userdata?dir=workflows&recurse=true&full_info=true")).json()
        assert [entry["path"] for entry in full] == ["my flow.json", "sub/deep.json"]
        tree = await (await client.get("/v2/userdata?path=workflows")).json()
        assert [(e["type"], e["path"]) for e in tree] == [
            ("directory", "workflows/sub"), ("file", "workflows/sub/deep.json"), ("file", "workflows/my flow.json")]
        assert (await client.get("/v2/userdata?path=nothing")).status == 404
        moved = await client.post(WF + "/move/workflows%2Frenamed.json")
        assert moved.status == 200 and await moved.json() == "workflows/renamed.json"
        assert (await client.get(WF)).status == 404
        await client.post(WF, data=b"{}")
        clash = await client.post(WF + "/move/workflows%2Frenamed.json?overwrite=false")
        assert clash.status == 409 and (tmp_path / "user/default/workflows/my flow.json").exists()
        assert (await client.delete(WF)).status == 204
        assert (await client.delete(WF)).status == 404
        assert sorted(os.listdir(tmp_path / "user/default/workflows")) == ["renamed.json", "sub"]


@async_test
async def test_userdata_refuses_names_that_leave_the_users_folder(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("keep out")
    (tmp_path / "user" / "default").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "user" / "default" / "link")
    async with make_client(tmp_path) as client:
        for name in ("..%2F..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", "link%2Fsecret.txt", "%2Fetc%2Fpasswd",
                     "workflows%2F..%2F..%2F..%2Fsecret.txt", "a%00b"):
            for method in ("GET", "POST", "DELETE"):
                answer = await client.request(method, f"/userdata/{name}", data=b"x")
                assert answer.status in (400, 403), (method, name, answer.status)
        assert (await client.post("/userdata/ok.json/move/..%2F..%2Fsecret.txt")).status == 404
        await client.post("/userdata/ok.json", data=b"{}")
        assert (await client.post("/userdata/ok.json/move/..%2F..%2Fsecret.txt")).status == 403
        assert (await client.get("/userdata?dir=..")).status == 403
        assert (await client.get("/userdata?dir=link")).status == 403
        assert (await client.get("/v2/userdata?path=..%2F..")).status == 403
        assert (await client.get("/userdata")).status == 400
        listing = await (await client.get("/v2/userdata")).json()
        assert [e["name"] for e in listing] == ["ok.json"]  # the symlink out is not listed
    assert outside.read_text() == "keep out"


@async_test
async def test_userdata_serves_pages_and_scripts_as_downloads(tmp_path):
    async with make_client(tmp_path, client_max_size=1024) as client:
        await client.post("/userdata/page.html", data=b"<script>alert(1)</script>")
        page = await client.get("/userdata/page.html")
        assert page.headers["Content-Type"] == "application/octet-stream"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        await client.post("/userdata/user.css", data=b"body {}")
        assert (await client.get("/userdata/user.css")).headers["Content-Type"].startswith("text/css")
        too_big = await client.post("/userdata/big.bin", data=b"x" * 4096)
        assert too_big.status == 413 and not (tmp_path / "user/default/big.bin").exists()


@async_test
async def test_userdata_odd_names_and_obstacles_get_4xx(tmp_path):
    async with make_client(tmp_path) as client:
        long_name = "x" * 300
        for method in ("GET", "POST", "DELETE"):
            assert (await client.request(method, f"/userdata/{long_name}", data=b"x")).status == 400, method
        assert (await client.get(f"/userdata?dir={long_name}")).status == 400
        await client.post("/userdata/f", data=b"a file")
        await client.post("/userdata/g", data=b"g")
        assert (await client.post("/userdata/g/move/f%2Fsub")).status == 409
        assert (await client.post("/userdata/f%2Fsub", data=b"x")).status == 409
        assert (await client.get("/userdata/g")).status == 200
        await client.post("/userdata/comfy.settings.json%2Finside", data=b"{}")  # a folder where settings go
        assert (await client.post("/settings", json={"a": 1})).status == 409


@async_test
async def test_overwrite_is_off_only_when_it_says_false_and_hidden_files_are_not_listed(tmp_path):
    async with make_client(tmp_path) as client:
        await client.post(WF, data=b"1")
        for value in ("1", "True", ""):
            assert (await client.post(WF + f"?overwrite={value}", data=value.encode() or b"2")).status == 200
        assert (await client.post(WF + "?overwrite=FALSE", data=b"3")).status == 409
        await client.post("/userdata/workflows%2F.DS_Store", data=b"x")
        assert await (await client.get("/userdata?dir=workflows")).json() == ["my flow.json"]


@async_test
async def test_saves_without_overwrite_work_where_hard_links_do_not(tmp_path, monkeypatch):
    import errno

    def no_links(*_):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    async with make_client(tmp_path) as client:
        assert (await client.post(WF + "?overwrite=false", data=b"first")).status == 200
        assert (await client.post(WF + "?overwrite=false", data=b"second")).status == 409
        assert (await client.post(WF + "/move/workflows%2Fb.json?overwrite=false")).status == 200
        await client.post(WF, data=b"again")
        assert (await client.post(WF + "/move/workflows%2Fb.json?overwrite=false")).status == 409
        assert await (await client.get("/userdata/workflows%2Fb.json")).read() == b"first"
    assert not [p for p in (tmp_path / "user/default/workflows").iterdir() if p.name.endswith(".tmp")]


@async_test
async def test_user_refusals_are_plain_strings_as_comfyuis_frontend_shows_them(tmp_path):
    async with make_client(tmp_path, multi_user=True) as client:
        answer = await client.post("/users", json={"username": "__root"})
        assert answer.status == 400 and isinstance((await answer.json())["error"], str)
        assert (await client.get("/settings", headers={"Comfy-User": ""})).status == 401


@async_test
async def test_a_setting_that_could_not_be_written_is_not_served(tmp_path, monkeypatch):
    async with make_client(tmp_path) as client:
        await client.post("/settings/kept", json=1)

        def disk_full(*_):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("server.json_files.write_bytes_atomic", disk_full)
        assert (await client.post("/settings/lost", json=2)).status == 400
        monkeypatch.undo()
        assert await (await client.get("/settings")).json() == {"kept": 1}
