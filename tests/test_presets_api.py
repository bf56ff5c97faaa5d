"""Model presets: saved per checkpoint hash, found again under another file name,
validated field by field, and never lost to a corrupt or unreadable file."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from nodes.registry import REGISTRY
from studio_extras.model_hash import NoCache, folder_sha256
from studio_extras.presets import PresetStore, validate_preset
from tests.server_support import async_test, make_client

CKPT = b"not really a checkpoint, only hashed"
PRESET = {"name": "Portrait", "steps": 28, "cfg": 6.5, "sampler_name": "euler", "scheduler": "karras",
          "width": 512, "height": 768, "trigger_words": "tok", "negative_prompt": "blurry"}


def add_checkpoint(base, name="x.safetensors", content=CKPT):
    path = base / "models" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def presets_file(base):
    return base / "user" / "model_presets.json"


async def save(client, preset, model="x.safetensors", **body):
    return await client.post("/studio/presets", json={"model": model, "preset": preset, **body})


@async_test
async def test_save_list_and_delete(tmp_path):
    add_checkpoint(tmp_path)
    digest = hashlib.sha256(CKPT).hexdigest()
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.get("/studio/presets", params={"model": "x.safetensors"})
        assert await response.json() == {"model": "x.safetensors", "hash": digest, "presets": []}
        response = await save(client, PRESET)
        body = await response.json()
        assert response.status == 200, body
        assert body == {"model": "x.safetensors", "hash": digest, "presets": [PRESET]}
        await save(client, {"name": "another", "steps": 4})
        response = await client.get("/api/studio/presets?model=x.safetensors")
        assert [p["name"] for p in (await response.json())["presets"]] == ["another", "Portrait"]
        response = await client.get("/studio/presets")
        listing = await response.json()
        assert listing["problems"] == []
        assert listing["models"] == [
            {"hash": digest, "names": ["x.safetensors"], "presets": [{"name": "another", "steps": 4}, PRESET]}
        ]
        response = await client.delete("/studio/presets", params={"model": "x.safetensors", "name": "another"})
        assert response.status == 200 and (await response.json())["presets"] == [PRESET]
        response = await client.delete("/studio/presets", params={"model": "x.safetensors", "name": "another"})
        assert response.status == 404 and (await response.json())["error"]["type"] == "unknown_preset"
    data = json.loads(presets_file(tmp_path).read_text(encoding="utf-8"))
    assert data["version"] == 1 and list(data["models"]) == [digest]
    assert data["models"][digest]["presets"]["Portrait"]["steps"] == 28
    cached = data["hash_cache"][str((tmp_path / "models/checkpoints/x.safetensors").resolve())]
    assert cached["sha256"] == digest and cached["size"] == len(CKPT)


@async_test
async def test_renamed_copy_finds_the_presets_and_persists_across_apps(tmp_path):
    original = add_checkpoint(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        assert (await save(client, PRESET)).status == 200
    shutil.copy(original, original.with_name("renamed.safetensors"))
    original.unlink()
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.get("/studio/presets", params={"model": "renamed.safetensors"})
        assert (await response.json())["presets"] == [PRESET]
        response = await client.get("/studio/presets", params={"model": "x.safetensors"})
        assert response.status == 404
        await save(client, {"name": "fast", "steps": 8}, model="renamed.safetensors")
        response = await client.get("/studio/presets")
        (model,) = (await response.json())["models"]
        assert model["names"] == ["x.safetensors", "renamed.safetensors"]
    data = json.loads(presets_file(tmp_path).read_text(encoding="utf-8"))
    assert list(data["hash_cache"]) == [str(original.with_name("renamed.safetensors").resolve())]


@async_test
async def test_unknown_and_unsafe_model_names(tmp_path):
    add_checkpoint(tmp_path)
    (tmp_path / "models" / "secret.safetensors").write_bytes(b"outside")
    (tmp_path / "models" / "checkpoints" / "notes.txt").write_text("not a model")
    async with make_client(tmp_path, start_worker=False) as client:
        for name in ("nope.safetensors", "notes.txt"):
            response = await client.get("/studio/presets", params={"model": name})
            assert response.status == 404 and (await response.json())["error"]["type"] == "unknown_model"
        for name in ("../secret.safetensors", "/etc/passwd", "..\\secret.safetensors"):
            response = await client.get("/studio/presets", params={"model": name})
            assert response.status in (403, 404), name
            response = await save(client, PRESET, model=name)
            assert response.status in (403, 404), name
        response = await client.get("/studio/presets", params={"model": ""})
        assert response.status == 400
        response = await client.delete("/studio/presets", params={"model": "x.safetensors"})
        assert response.status == 400
    assert not presets_file(tmp_path).exists() or "secret" not in presets_file(tmp_path).read_text()


@pytest.mark.parametrize(
    "body, fields",
    [
        ([1, 2], {"body"}),
        ({"model": "x.safetensors"}, {"preset"}),
        ({"model": "x.safetensors", "preset": "Portrait"}, {"preset"}),
        ({"model": "x.safetensors", "preset": {"steps": 20}}, {"name"}),
        ({"model": "x.safetensors", "preset": {"name": "   "}}, {"name"}),
        ({"model": "x.safetensors", "preset": {"name": "n" * 81}}, {"name"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "steps": "20"}}, {"steps"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "steps": 0, "cfg": 101}}, {"steps", "cfg"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "cfg": True}}, {"cfg"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "sampler_name": "warp_drive"}}, {"sampler_name"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "scheduler": "often"}}, {"scheduler"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "width": 500, "height": 8}}, {"width", "height"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "trigger_words": "w" * 1001}}, {"trigger_words"}),
        ({"model": "x.safetensors", "preset": {"name": "a", "seed": 1}}, {"seed"}),
        ({"model": "x.safetensors", "preset": {"name": "a"}, "replace": "yes"}, {"replace"}),
        ({"preset": {"name": "a"}}, {"model"}),
    ],
)
@async_test
async def test_malformed_presets_are_refused_field_by_field(tmp_path, body, fields):
    add_checkpoint(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.post("/studio/presets", json=body)
        answer = await response.json()
        assert response.status == 400, answer
        assert answer["error"]["type"] == "invalid_preset"
        assert set(answer["field_errors"]) == fields
        response = await client.post("/studio/presets", data=b"{not json")
        assert response.status == 400 and "field_errors" in await response.json()
    assert not presets_file(tmp_path).exists()


@async_test
async def test_duplicate_name_needs_replace(tmp_path):
    add_checkpoint(tmp_path)
    async with make_client(tmp_path, start_worker=False) as client:
        await save(client, PRESET)
        response = await save(client, {"name": "Portrait", "steps": 5})
        assert response.status == 409 and (await response.json())["error"]["type"] == "preset_exists"
        response = await save(client, {"name": " Portrait ", "steps": 5}, replace=True)
        assert response.status == 200
        assert (await response.json())["presets"] == [{"name": "Portrait", "steps": 5}]


@async_test
async def test_corrupt_file_is_kept_and_reported(tmp_path):
    add_checkpoint(tmp_path)
    presets_file(tmp_path).parent.mkdir(parents=True)
    presets_file(tmp_path).write_text('{"models": {"abc": ', encoding="utf-8")
    async with make_client(tmp_path, start_worker=False) as client:
        response = await client.get("/studio/presets")
        listing = await response.json()
        assert response.status == 200 and listing["models"] == []
        assert "model_presets.json.bak" in listing["problems"][0]
        assert (await save(client, PRESET)).status == 200
    backup = presets_file(tmp_path).with_name("model_presets.json.bak")
    assert backup.read_text(encoding="utf-8") == '{"models": {"abc": '
    assert "Portrait" in json.loads(presets_file(tmp_path).read_text(encoding="utf-8"))["models"][
        hashlib.sha256(CKPT).hexdigest()
    ]["presets"]


def test_wrong_shape_file_is_also_backed_up(tmp_path):
    path = tmp_path / "model_presets.json"
    path.write_text('{"models": {"abc": [1, 2]}}', encoding="utf-8")
    store = PresetStore(path)
    assert store.all_models() == [] and len(store.problems) == 1
    store.save("d" * 64, "x.safetensors", {"name": "p"})
    assert path.with_name("model_presets.json.bak").read_text() == '{"models": {"abc": [1, 2]}}'
    assert PresetStore(path).presets_for("d" * 64) == [{"name": "p"}]


def test_hash_cache_skips_rehashing_unchanged_files(tmp_path, monkeypatch):
    path = add_checkpoint(tmp_path)
    store = PresetStore(tmp_path / "user" / "model_presets.json")
    digest = store.hash_model(path)
    calls = []
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(a) or pytest.fail("re-hashed"))
    assert PresetStore(tmp_path / "user" / "model_presets.json").hash_model(path) == digest
    assert calls == []


def test_diffusers_folder_hash_ignores_its_name_and_hidden_files(tmp_path):
    first = tmp_path / "a" / "model"
    for relative, content in {"model_index.json": b"{}", "unet/w.bin": b"1", "vae/w.bin": b"2"}.items():
        (first / relative).parent.mkdir(parents=True, exist_ok=True)
        (first / relative).write_bytes(content)
    second = tmp_path / "b" / "other-name"
    shutil.copytree(first, second)
    (second / ".cache").mkdir()
    (second / ".cache" / "junk").write_bytes(b"x")
    assert folder_sha256(first, NoCache()) == folder_sha256(second, NoCache())
    (second / "vae" / "w.bin").write_bytes(b"3")
    assert folder_sha256(first, NoCache()) != folder_sha256(second, NoCache())


@async_test
async def test_diffusers_folder_checkpoint_has_presets(tmp_path):
    folder = tmp_path / "models" / "checkpoints" / "sd-folder"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "w.bin").write_bytes(b"weights")
    async with make_client(tmp_path, start_worker=False) as client:
        response = await save(client, {"name": "p", "steps": 3}, model="sd-folder")
        body = await response.json()
        assert response.status == 200, body
        assert body["hash"] == folder_sha256(folder, NoCache()) and body["presets"] == [{"name": "p", "steps": 3}]


def test_preset_bounds_are_the_core_nodes_own():
    """A preset is applied to KSampler's and Empty Latent Image's widgets, so it is held to
    their descriptors: whatever those nodes accept, a preset accepts."""
    sampler, latent = REGISTRY.get("KSampler"), REGISTRY.get("EmptyLatentImage")
    steps, cfg, width = sampler.input_named("steps"), sampler.input_named("cfg"), latent.input_named("width")
    top = {"name": "a", "steps": steps.max, "cfg": cfg.max, "width": width.max, "height": latent.input_named("height").min,
           "sampler_name": sampler.input_named("sampler_name").current_choices()[-1],
           "scheduler": sampler.input_named("scheduler").current_choices()[-1]}
    assert validate_preset(top) == (top, {})
    _, errors = validate_preset({"name": "a", "steps": steps.max + 1, "cfg": cfg.min - 1, "width": width.max + width.step})
    assert errors == {
        "steps": f"must be between {steps.min} and {steps.max}",
        "cfg": f"must be between {cfg.min:g} and {cfg.max:g}",
        "width": f"must be between {width.min} and {width.max}",
    }
    assert validate_preset({"name": "a", "height": 516})[1] == {"height": f"must be a multiple of {width.step}"}


def test_validate_preset_accepts_ints_as_cfg_and_drops_nulls():
    clean, errors = validate_preset({"name": "a", "cfg": 7, "steps": None})
    assert errors == {} and clean == {"name": "a", "cfg": 7}


@async_test
async def test_unreadable_file_that_cannot_be_copied_is_never_overwritten(tmp_path, monkeypatch):
    add_checkpoint(tmp_path)
    presets_file(tmp_path).parent.mkdir(parents=True)
    presets_file(tmp_path).write_text("{half", encoding="utf-8")
    monkeypatch.setattr("server.json_files.keep_backup", lambda path: None)  # as on a read-only or full disk
    async with make_client(tmp_path, start_worker=False) as client:
        response = await save(client, PRESET)
        assert response.status == 503 and (await response.json())["error"]["type"] == "presets_unavailable"
        response = await client.get("/studio/presets", params={"model": "x.safetensors"})
        assert response.status == 200 and (await response.json())["presets"] == []
    assert presets_file(tmp_path).read_text(encoding="utf-8") == "{half"
