"""The editor's reference data: prompt-library snippets, autocomplete tags and UI locales.

GET    /studio/prompt_library      -> {"categories": [{"id", "label", "snippets": [snippet]}], "problems"}
                                      snippet: {"id", "label": {lang: text}, "text", "user"}
POST   /studio/prompt_library      {"category", "text", "label"?, "category_label"?} -> {"snippet": {...}}
DELETE /studio/prompt_library/{id} -> {"deleted": id}
GET    /studio/tags                -> {"tags": [[name, category, count, [aliases]]], "translations",
                                       "sources", "problems"}
GET    /studio/locales             -> [{"code", "name"}]
GET    /studio/locales/{code}      -> the merged translations (+ "_problems" when a file was skipped)
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from server.errors import ApiError, read_json
from server.json_files import StoreLocked
from server.state import CONFIG

from .locales import CODE_RE, Locales
from .prompt_library import PromptLibrary, ShippedSnippet, UnknownSnippet, validate_snippet
from .tag_lists import TagLists

LIBRARY = web.AppKey("prompt_library", PromptLibrary)
TAGS = web.AppKey("tag_lists", TagLists)
LOCALES = web.AppKey("locales", Locales)


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    app[LIBRARY] = PromptLibrary.for_dirs(config.data_dir, config.user_dir)
    app[TAGS] = TagLists(config.data_dir / "tags", config.user_dir / "tags")
    app[LOCALES] = Locales(config.frontend_dir / "locales", config.user_dir / "locales")


async def get_prompt_library(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(request.app[LIBRARY].merged))


async def post_snippet(request: web.Request) -> web.Response:
    body = await read_json(request, field_errors={"body": "not valid JSON"})
    snippet, errors = validate_snippet(body)
    if errors:
        fields = ", ".join(sorted(errors))
        raise ApiError(400, "invalid_snippet", f"the snippet is not valid ({fields})", field_errors=errors)
    try:
        stored = await asyncio.to_thread(request.app[LIBRARY].add, snippet)
    except StoreLocked as exc:
        raise ApiError(503, "library_unavailable", str(exc)) from None
    return web.json_response({"snippet": stored})


async def delete_snippet(request: web.Request) -> web.Response:
    snippet_id = request.match_info["id"]
    try:
        await asyncio.to_thread(request.app[LIBRARY].delete, snippet_id)
    except ShippedSnippet:
        raise ApiError(403, "shipped_snippet", f"'{snippet_id}' ships with the app and cannot be deleted") from None
    except UnknownSnippet:
        raise ApiError(404, "unknown_snippet", f"no snippet '{snippet_id}'") from None
    except StoreLocked as exc:
        raise ApiError(503, "library_unavailable", str(exc)) from None
    return web.json_response({"deleted": snippet_id})


async def get_tags(request: web.Request) -> web.Response:
    """The merged lists; the ETag lets the editor skip re-downloading megabytes of tags."""
    body, etag = await asyncio.to_thread(request.app[TAGS].payload)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", charset="utf-8", headers=headers)


async def get_locales(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(request.app[LOCALES].listing))


async def get_locale(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not CODE_RE.match(code):
        raise ApiError(400, "invalid_locale", f"'{code}' is not a locale code (like 'zh' or 'pt-BR')")
    merged = await asyncio.to_thread(request.app[LOCALES].merged, code)
    if merged is None:
        raise ApiError(404, "unknown_locale", f"no locale '{code}'")
    return web.json_response(merged)


ROUTES = [
    ("GET", "/studio/prompt_library", get_prompt_library),
    ("POST", "/studio/prompt_library", post_snippet),
    ("DELETE", "/studio/prompt_library/{id:.+}", delete_snippet),
    ("GET", "/studio/tags", get_tags),
    ("GET", "/studio/locales", get_locales),
    ("GET", "/studio/locales/{code}", get_locale),
]
