"""The editor's reference data over HTTP: prompt library, autocomplete tags, UI locales.

Each test builds its own shipped data and frontend folders in tmp_path (except the one
that checks the prompt library shipped in data/)."""
from __future__ import annotations

import json

import pytest

from studio_extras.tag_lists import parse_csv, sniff
from tests.server_support import async_test, make_client


def shipped_library(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    library = {"categories": [
        {"id": "quality", "label": {"en": "Quality", "zh": "画质"},
         "snippets": [{"label": {"en": "Best", "zh": "最佳"}, "text": "best quality"},
                      {"label": {"en": "Sharp", "zh": "清晰"}, "text": "sharp focus"}]},
        {"id": "negative", "label": {"en": "Negative", "zh": "负面"},
         "snippets": [{"label": {"en": "Blurry", "zh": "模糊"}, "text": "blurry"}]},
    ]}
    (data_dir / "prompt_library.json").write_text(json.dumps(library, ensure_ascii=False), encoding="utf-8")


def client_for(tmp_path, **overrides):
    overrides.setdefault("data_dir", tmp_path / "data")
    overrides.setdefault("frontend_dir", tmp_path / "frontend")
    return make_client(tmp_path, start_worker=False, **overrides)


# ---------------------------------------------------------------- prompt library


@async_test
async def test_the_shipped_library_has_every_category_in_english_and_chinese(tmp_path):
    async with make_client(tmp_path, start_worker=False) as client:  # the real data/prompt_library.json
        response = await client.get("/studio/prompt_library")
        body = await response.json()
    assert response.status == 200 and body["problems"] == []
    ids = [c["id"] for c in body["categories"]]
    for wanted in ("quality", "style", "lighting", "camera", "composition", "subject", "scene", "colour", "mood", "negative"):
        assert wanted in ids
    for category in body["categories"]:
        assert category["label"]["en"] and category["label"]["zh"]
        assert 10 <= len(category["snippets"]) <= 20, category["id"]
        for index, snippet in enumerate(category["snippets"]):
            assert snippet["id"] == f"{category['id']}/{index}" and snippet["user"] is False
            assert snippet["label"]["en"] and snippet["label"]["zh"] and snippet["text"].isascii()


@async_test
async def test_user_snippets_are_added_kept_across_apps_and_deleted(tmp_path):
    shipped_library(tmp_path / "data")
    async with client_for(tmp_path) as client:
        response = await client.post("/studio/prompt_library", json={"category": "quality", "text": " film grain ", "label": "Grain"})
        added = (await response.json())["snippet"]
        assert response.status == 200
        assert added["id"].startswith("u") and added["text"] == "film grain" and added["user"] is True
        assert added["label"] == {"en": "Grain", "zh": "Grain"} and added["category"] == "quality"
        response = await client.post(
            "/api/studio/prompt_library",
            json={"category": "my-chars", "text": "alice, red scarf", "label": {"en": "Alice", "zh": "爱丽丝"},
                  "category_label": {"en": "My characters", "zh": "我的角色"}},
        )
        alice = (await response.json())["snippet"]
        await client.post("/studio/prompt_library", json={"category": "misc", "text": "no label given"})
    async with client_for(tmp_path) as client:
        body = await (await client.get("/studio/prompt_library")).json()
        assert [c["id"] for c in body["categories"]] == ["quality", "negative", "my-chars", "misc"]
        quality = body["categories"][0]
        assert [s["id"] for s in quality["snippets"]] == ["quality/0", "quality/1", added["id"]]
        assert quality["snippets"][2]["user"] is True
        assert body["categories"][2]["label"] == {"en": "My characters", "zh": "我的角色"}
        assert body["categories"][2]["snippets"][0]["label"]["zh"] == "爱丽丝"
        assert body["categories"][3]["label"] == {"en": "misc", "zh": "misc"}
        assert body["categories"][3]["snippets"][0]["label"]["en"] == "no label given"
        response = await client.delete(f"/studio/prompt_library/{alice['id']}")
        assert response.status == 200 and (await response.json()) == {"deleted": alice["id"]}
        response = await client.delete(f"/studio/prompt_library/{alice['id']}")
        assert response.status == 404 and (await response.json())["error"]["type"] == "unknown_snippet"
        for shipped_id in ("quality/0", "quality%2F1", "negative/0"):
            response = await client.delete(f"/studio/prompt_library/{shipped_id}")
            assert response.status == 403 and (await response.json())["error"]["type"] == "shipped_snippet"
        response = await client.delete("/api/studio/prompt_library/quality/9")
        assert response.status == 404
        body = await (await client.get("/studio/prompt_library")).json()
        assert [c["id"] for c in body["categories"]] == ["quality", "negative", "misc"]
    user_file = json.loads((tmp_path / "user" / "prompt_library.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in user_file["categories"]] == ["quality", "misc"]


@pytest.mark.parametrize(
    "body, fields",
    [
        ("just text", {"body"}),
        ({"category": "quality", "text": "   "}, {"text"}),
        ({"category": "quality", "text": "t" * 2001}, {"text"}),
        ({"category": "quality", "text": "ok", "label": "l" * 101}, {"label"}),
        ({"category": "quality", "text": "ok", "label": {"en": ""}}, {"label"}),
        ({"category": "quality", "text": "ok", "label": {"../x": "a"}}, {"label"}),
        ({"category": "Quality!", "text": "ok"}, {"category"}),
        ({"category": "c" * 41, "text": "ok"}, {"category"}),
        ({"text": "ok", "extra": 1}, {"category", "extra"}),
        ({"category": "new", "text": "ok", "category_label": 5}, {"category_label"}),
    ],
)
@async_test
async def test_bad_snippets_are_refused(tmp_path, body, fields):
    shipped_library(tmp_path / "data")
    async with client_for(tmp_path) as client:
        response = await client.post("/studio/prompt_library", json=body)
        answer = await response.json()
        assert response.status == 400 and answer["error"]["type"] == "invalid_snippet"
        assert set(answer["field_errors"]) == fields
    assert not (tmp_path / "user" / "prompt_library.json").exists()


@async_test
async def test_corrupt_user_library_is_backed_up_not_lost(tmp_path):
    shipped_library(tmp_path / "data")
    user_file = tmp_path / "user" / "prompt_library.json"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("[oops", encoding="utf-8")
    async with client_for(tmp_path) as client:
        body = await (await client.get("/studio/prompt_library")).json()
        assert len(body["categories"]) == 2 and "prompt_library.json.bak" in body["problems"][0]
        response = await client.post("/studio/prompt_library", json={"category": "quality", "text": "x"})
        assert response.status == 200
    assert user_file.with_name("prompt_library.json.bak").read_text(encoding="utf-8") == "[oops"


# ---------------------------------------------------------------- tags


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)


@async_test
async def test_shipped_and_user_tag_lists_merge(tmp_path):
    tags = tmp_path / "data" / "tags"
    write(tags / "tags.csv", "name,category,count,aliases\nlong_hair,general,500,\"longhair,long hair\"\n"
                             "1girl,general,900,\nsmile,general,300,\nbad row without count\n,general,5,\n")
    write(tags / "tags_zh.csv", "tag,translation\nlong_hair,长发\nsmile,微笑|笑容\nempty,\n")
    user = tmp_path / "user" / "tags"
    write(user / "a1111.csv", 'long_hair,0,700,"lh,longhair"\nsome_artist,1,50,\nhero,4,80,"the_hero"\n'
                              "rare,99,3,\nbroken,0,many,\n")
    write(user / "mine_zh.csv", "smile,笑脸\n1girl,一个女孩|单人女性\n")
    write(user / "latin1.csv", "caf\xe9,0,1,\n", encoding="latin-1")
    write(user / "odd.csv", "just one column\n")
    async with client_for(tmp_path) as client:
        response = await client.get("/studio/tags")
        body = await response.json()
        assert response.status == 200
        assert body["tags"] == [
            ["1girl", "general", 900, []],
            ["long_hair", "general", 700, ["longhair", "long hair", "lh"]],
            ["smile", "general", 300, []],
            ["hero", "character", 80, ["the_hero"]],
            ["some_artist", "artist", 50, []],
            ["rare", "99", 3, []],
        ]
        assert body["translations"] == {"long_hair": ["长发"], "smile": ["微笑", "笑容", "笑脸"], "1girl": ["一个女孩", "单人女性"]}
        assert body["sources"] == [
            {"file": "tags.csv", "origin": "shipped", "kind": "tags", "rows": 3, "skipped": 2},
            {"file": "tags_zh.csv", "origin": "shipped", "kind": "translations", "rows": 2, "skipped": 1},
            {"file": "a1111.csv", "origin": "user", "kind": "tags", "rows": 4, "skipped": 1},
            {"file": "mine_zh.csv", "origin": "user", "kind": "translations", "rows": 2, "skipped": 0},
        ]
        assert {(p["file"], p["origin"]) for p in body["problems"]} == {("latin1.csv", "user"), ("odd.csv", "user")}
        assert "UTF-8" in next(p["message"] for p in body["problems"] if p["file"] == "latin1.csv")

        etag = response.headers["ETag"]
        again = await client.get("/api/studio/tags", headers={"If-None-Match": etag})
        assert again.status == 304
        write(user / "more.csv", "name,category,count,aliases\nsmile,expression,1000,grin\n")
        response = await client.get("/studio/tags", headers={"If-None-Match": etag})
        assert response.status == 200 and response.headers["ETag"] != etag
        assert (await response.json())["tags"][0] == ["smile", "expression", 1000, ["grin"]]


@async_test
async def test_no_tag_files_is_an_empty_answer(tmp_path):
    async with client_for(tmp_path) as client:
        response = await client.get("/studio/tags")
        assert await response.json() == {"tags": [], "translations": {}, "sources": [], "problems": []}


def test_sniffing_and_limits(tmp_path, monkeypatch):
    assert sniff(["Name", "Category", "Count", "Aliases"]) == ("tags", True)
    assert sniff(["tag", "translation"]) == ("translations", True)
    assert sniff(["x", "0", "12", ""]) == ("tags", False)
    assert sniff(["x", "翻译"]) == ("translations", False)
    path = tmp_path / "big.csv"
    path.write_text("".join(f"t{i},0,{i},\n" for i in range(20)), encoding="utf-8")
    monkeypatch.setattr("studio_extras.tag_lists.MAX_ROWS", 5)
    parsed = parse_csv(path)
    assert len(parsed.rows) == 5 and "first 5 rows" in parsed.note


# ---------------------------------------------------------------- locales


def locale_folders(tmp_path):
    shipped = tmp_path / "frontend" / "locales"
    write(shipped / "zh" / "a.json", json.dumps({"name": "中文", "menu": {"file": "文件", "edit": "编辑"}, "ok": "好"}))
    write(shipped / "zh" / "b.json", json.dumps({"menu": {"edit": "修改", "view": "视图"}}))
    write(shipped / "zh" / "c.json", "{broken")
    write(shipped / "not a code" / "x.json", "{}")
    user = tmp_path / "user" / "locales"
    write(user / "zh" / "mine.json", json.dumps({"menu": {"file": "档案"}, "ok": "确定"}))
    write(user / "fr" / "fr.json", json.dumps({"menu": {"file": "Fichier"}}))
    write(user / "pt-BR" / "pt.json", json.dumps({"name": "Português (Brasil)"}))


@async_test
async def test_locales_list_and_merge(tmp_path):
    locale_folders(tmp_path)
    async with client_for(tmp_path) as client:
        response = await client.get("/studio/locales")
        assert await response.json() == [
            {"code": "fr", "name": "fr"},
            {"code": "pt-BR", "name": "Português (Brasil)"},
            {"code": "zh", "name": "中文"},
        ]
        response = await client.get("/api/studio/locales/zh")
        body = await response.json()
        assert response.status == 200
        problems = body.pop("_problems")
        assert body == {"name": "中文", "menu": {"file": "档案", "edit": "修改", "view": "视图"}, "ok": "确定"}
        assert [(p["file"], p["origin"]) for p in problems] == [("zh/c.json", "shipped")]
        assert "not valid JSON" in problems[0]["error"]
        response = await client.get("/studio/locales/fr")
        assert await response.json() == {"menu": {"file": "Fichier"}}
        for bad in ("z", "zh.json", "toolongcode", "zh-"):
            response = await client.get(f"/studio/locales/{bad}")
            assert response.status == 400 and (await response.json())["error"]["type"] == "invalid_locale", bad
        response = await client.get("/studio/locales/de")
        assert response.status == 404 and (await response.json())["error"]["type"] == "unknown_locale"
        response = await client.get("/studio/locales/..%2F..%2Fuser")
        assert response.status in (400, 404)


@async_test
async def test_no_locale_folders(tmp_path):
    async with client_for(tmp_path) as client:
        assert await (await client.get("/studio/locales")).json() == []
