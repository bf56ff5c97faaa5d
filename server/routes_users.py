"""Users, settings and user data over HTTP, in ComfyUI's shapes.

GET  /users                      -> {"storage": "server", "migrated": bool} (single user)
                                    {"storage": "server", "users": {id: name}} (--multi-user)
POST /users {"username"}         -> the new user's id
GET  /settings, /settings/{id}   -> all settings, or one value (null when unset)
POST /settings {id: value, ...}  -> merged in; POST /settings/{id} <value>
GET  /userdata?dir=&recurse=&full_info=&split=      -> files below dir
GET  /v2/userdata?path=          -> [{"name", "path", "type", "size"?, "modified"?}]
GET/POST/DELETE /userdata/{file} (POST: ?overwrite=false -> 409 if it exists; ?full_info=true)
POST /userdata/{file}/move/{dest}
In multi-user mode the `Comfy-User` header names the user.
"""
from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from .errors import ApiError, read_json, read_json_object
from .state import CONFIG, USER_DATA, USER_SETTINGS
from .user_data import UnknownUser, UserData, UserDataError, file_info
from .user_settings import MAX_SETTING_ID, UserSettings

# What a user data file may be served as; anything else goes out as a download.
SERVED_TYPES = {"application/json", "text/css", "text/plain", "image/png", "image/jpeg", "image/webp"}


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    users = UserData(config.user_dir, multi_user=config.multi_user)
    app[USER_DATA] = users
    app[USER_SETTINGS] = UserSettings(users)


def _user(request: web.Request) -> str:
    try:
        return request.app[USER_DATA].user_for(request.headers.get("Comfy-User"))
    except UnknownUser as exc:
        raise ApiError(401, "unknown_user", f"unknown user '{exc.args[0]}'") from None


async def _call(function: Callable, *args: Any) -> Any:
    """Run a file operation on a worker thread; its refusals become 4xx answers."""
    try:
        return await asyncio.to_thread(function, *args)
    except UserDataError as exc:
        raise ApiError(exc.status, "invalid_user_file" if exc.status != 404 else "not_found", exc.message) from None
    except OSError as exc:  # the file system said no (read-only, full ...); str(exc) would name the path
        raise ApiError(400, "invalid_user_file", f"the user file cannot be used: {exc.strerror or type(exc).__name__}") from None
    except UnicodeError:  # a name the file system cannot encode
        raise ApiError(400, "invalid_user_file", "the file name is not valid UTF-8") from None


def _flag(request: web.Request, name: str) -> bool:
    """`?full_info=true`-style flags: on only when they say true."""
    return request.query.get(name, "").lower() == "true"


def _overwrite(request: web.Request) -> bool:
    """As in ComfyUI, anything but `overwrite=false` replaces an existing file."""
    return request.query.get("overwrite", "true").lower() != "false"


# -- users ------------------------------------------------------------------------------


async def get_users(request: web.Request) -> web.Response:
    users: UserData = request.app[USER_DATA]
    if users.multi_user:
        return web.json_response({"storage": "server", "users": users.users()})
    return web.json_response({"storage": "server", "migrated": users.folder(_user(request)).is_dir()})


async def post_users(request: web.Request) -> web.Response:
    """A refusal is `{"error": "why"}`, the plain string ComfyUI's frontend shows as it is."""
    body = await read_json_object(request)
    username = body.get("username")
    if not isinstance(username, str):
        return web.json_response({"error": "'username' must be a string"}, status=400)
    try:
        user_id = await asyncio.to_thread(request.app[USER_DATA].add_user, username)
    except UserDataError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    return web.json_response(user_id)


# -- settings ---------------------------------------------------------------------------


def _setting_id(request: web.Request) -> str:
    setting_id = request.match_info["id"]
    if len(setting_id) > MAX_SETTING_ID or not setting_id.isprintable():
        raise ApiError(400, "invalid_setting", f"a setting id is at most {MAX_SETTING_ID} printable characters")
    return setting_id


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(await _call(request.app[USER_SETTINGS].all, _user(request)))


async def get_setting(request: web.Request) -> web.Response:
    settings: UserSettings = request.app[USER_SETTINGS]
    return web.json_response(await _call(settings.get, _user(request), _setting_id(request)))


async def post_settings(request: web.Request) -> web.Response:
    user = _user(request)
    changes = await read_json_object(request)
    await _call(request.app[USER_SETTINGS].update, user, changes)
    return web.Response(status=200)


async def post_setting(request: web.Request) -> web.Response:
    user, setting_id = _user(request), _setting_id(request)
    value = await read_json(request)
    await _call(request.app[USER_SETTINGS].set, user, setting_id, value)
    return web.Response(status=200)


# -- user data --------------------------------------------------------------------------


async def list_userdata(request: web.Request) -> web.Response:
    directory = request.query.get("dir", "")
    if not directory:
        raise ApiError(400, "invalid_request", "'dir' is required")
    users: UserData = request.app[USER_DATA]
    listing = await _call(
        users.list_dir, _user(request), directory,
        _flag(request, "recurse"), _flag(request, "full_info"), _flag(request, "split"),
    )
    return web.json_response(listing)


async def list_userdata_v2(request: web.Request) -> web.Response:
    return web.json_response(await _call(request.app[USER_DATA].list_tree, _user(request), request.query.get("path", "")))


async def get_userdata(request: web.Request) -> web.StreamResponse:
    path: Path = await _call(request.app[USER_DATA].existing_file, _user(request), request.match_info["file"])
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    if content_type not in SERVED_TYPES:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"
    headers["Content-Type"] = content_type
    return web.FileResponse(path, headers=headers)


def _written(request: web.Request, user: str, path: Path) -> web.Response:
    root = request.app[USER_DATA].folder(user)
    if _flag(request, "full_info"):
        return web.json_response(file_info(path, root))
    return web.json_response(path.relative_to(root).as_posix())


async def post_userdata(request: web.Request) -> web.Response:
    user = _user(request)
    data = await request.read()  # the app's body limit applies: 413 beyond it
    path = await _call(request.app[USER_DATA].write, user, request.match_info["file"], data,
                       _overwrite(request))
    return _written(request, user, path)


async def delete_userdata(request: web.Request) -> web.Response:
    await _call(request.app[USER_DATA].delete, _user(request), request.match_info["file"])
    return web.Response(status=204)


async def move_userdata(request: web.Request) -> web.Response:
    user = _user(request)
    path = await _call(request.app[USER_DATA].move, user, request.match_info["file"], request.match_info["dest"],
                       _overwrite(request))
    return _written(request, user, path)


ROUTES = [
    ("GET", "/users", get_users),
    ("POST", "/users", post_users),
    ("GET", "/settings", get_settings),
    ("POST", "/settings", post_settings),
    ("GET", "/settings/{id}", get_setting),
    ("POST", "/settings/{id}", post_setting),
    ("GET", "/userdata", list_userdata),
    ("GET", "/v2/userdata", list_userdata_v2),
    ("GET", "/userdata/{file}", get_userdata),
    ("POST", "/userdata/{file}", post_userdata),
    ("DELETE", "/userdata/{file}", delete_userdata),
    ("POST", "/userdata/{file}/move/{dest}", move_userdata),
]
