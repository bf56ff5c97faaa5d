"""Model presets over HTTP: the settings a user likes for a checkpoint, found again
whatever the checkpoint file is called.

GET    /studio/presets                     -> {"models": [{"hash", "names", "presets"}], "problems"}
GET    /studio/presets?model=NAME          -> {"model", "hash", "presets": [{"name", ...}]}
POST   /studio/presets {"model", "preset", "replace"} -> as GET with model
DELETE /studio/presets?model=NAME&name=P   -> as GET with model
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from nodes.folders import UnsafePathError
from server.errors import ApiError, read_json
from server.json_files import StoreLocked
from server.state import CONFIG, FOLDERS

from .presets import PresetExists, PresetStore, UnknownPreset, checkpoint_path, validate_preset

PRESETS = web.AppKey("presets", PresetStore)


def setup(app: web.Application) -> None:
    app[PRESETS] = PresetStore.in_user_dir(app[CONFIG].user_dir)


def _invalid(field_errors: dict[str, str]) -> ApiError:
    fields = ", ".join(sorted(field_errors))
    return ApiError(400, "invalid_preset", f"the preset is not valid ({fields})", field_errors=field_errors)


async def _model(request: web.Request, name: object) -> tuple[str, str]:
    """(model name, hash) of a checkpoint; 403 for names leaving the folder, 404 for no checkpoint."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "missing_model", "name a checkpoint with 'model'", field_errors={"model": "required"})
    try:
        path: Path = await asyncio.to_thread(checkpoint_path, request.app[FOLDERS], name)
    except UnsafePathError:
        raise ApiError(403, "forbidden_path", f"'{name}' leaves the checkpoints folder") from None
    except FileNotFoundError:
        raise ApiError(404, "unknown_model", f"no checkpoint '{name}'") from None
    try:
        digest = await asyncio.to_thread(request.app[PRESETS].hash_model, path)
    except OSError as exc:
        raise ApiError(500, "unreadable_model", f"'{name}' cannot be read: {exc.strerror or exc}") from None
    return name, digest


def _answer(model: str, digest: str, presets: list[dict]) -> web.Response:
    return web.json_response({"model": model, "hash": digest, "presets": presets})


async def get_presets(request: web.Request) -> web.Response:
    store = request.app[PRESETS]
    if "model" not in request.query:
        models = await asyncio.to_thread(store.all_models)
        return web.json_response({"models": models, "problems": list(store.problems)})
    model, digest = await _model(request, request.query["model"])
    return _answer(model, digest, await asyncio.to_thread(store.presets_for, digest))


async def post_preset(request: web.Request) -> web.Response:
    body = await read_json(request, field_errors={"body": "not valid JSON"})
    if not isinstance(body, dict):
        raise _invalid({"body": "must be a JSON object with 'model' and 'preset'"})
    preset, errors = validate_preset(body.get("preset"))
    replace = body.get("replace", False)
    if replace is not None and not isinstance(replace, bool):
        errors["replace"] = "must be true or false"
    unknown = set(body) - {"model", "preset", "replace"}
    errors.update({key: "unknown field" for key in unknown})
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        errors["model"] = "name a checkpoint"
    if errors:
        raise _invalid(errors)
    model, digest = await _model(request, body["model"])
    try:
        presets = await asyncio.to_thread(request.app[PRESETS].save, digest, model, preset, bool(replace))
    except PresetExists:
        raise ApiError(
            409,
            "preset_exists",
            f"'{model}' already has a preset '{preset['name']}'; send \"replace\": true to overwrite it",
        ) from None
    except StoreLocked as exc:
        raise ApiError(503, "presets_unavailable", str(exc)) from None
    return _answer(model, digest, presets)


async def delete_preset(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    if not name.strip():
        raise ApiError(400, "missing_name", "name the preset to delete with 'name'", field_errors={"name": "required"})
    model, digest = await _model(request, request.query.get("model"))
    try:
        presets = await asyncio.to_thread(request.app[PRESETS].delete, digest, name.strip())
    except UnknownPreset:
        raise ApiError(404, "unknown_preset", f"'{model}' has no preset '{name}'") from None
    except StoreLocked as exc:
        raise ApiError(503, "presets_unavailable", str(exc)) from None
    return _answer(model, digest, presets)


ROUTES = [
    ("GET", "/studio/presets", get_presets),
    ("POST", "/studio/presets", post_preset),
    ("DELETE", "/studio/presets", delete_preset),
]
