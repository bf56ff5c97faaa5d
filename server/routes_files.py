"""Files over HTTP: POST /upload/image and GET /view, confined to input/output/temp.

Uploads are read part by part with a byte limit (a 10 GB body is refused after 50 MB,
not buffered), decoded by Pillow on a worker thread before anything is written.
"""
from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from nodes.folders import UnsafePathError

from .errors import ApiError
from .state import CONFIG, FOLDERS
from .uploads import check_image, save_upload

FIELD_LIMIT = 4096
FOLDER_TYPES = ("input", "output", "temp")
# What /view may label as itself; anything else goes out as a download, never as a page.
SAFE_TYPES = {
    "image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
    "video/mp4", "video/webm", "audio/wav", "audio/x-wav", "audio/mpeg", "audio/flac",
    "application/json", "text/plain",
}


async def _read_part(part: BodyPartReader, limit: int, what: str) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = await part.read_chunk(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request_too_large", f"{what} is larger than {limit} bytes")
        chunks.append(chunk)


async def upload_image(request: web.Request) -> web.Response:
    """Multipart fields `image` (the file), `type`, `subfolder`, `overwrite`."""
    limit = request.app[CONFIG].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise ApiError(413, "request_too_large", f"uploads are limited to {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "invalid_request", "upload with multipart/form-data")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    data, filename = None, None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "invalid_request", "nested multipart bodies are not accepted")
        if part.name == "image":
            filename = part.filename or ""
            data = await _read_part(part, limit, "the image")
        else:
            value = await _read_part(part, FIELD_LIMIT, f"field '{part.name}'")
            if part.name in ("type", "subfolder", "overwrite"):
                fields[part.name] = value.decode("utf-8", errors="replace")
    if data is None:
        raise ApiError(400, "invalid_request", "no 'image' field in the upload")
    folder_type = fields.get("type") or "input"
    if folder_type not in FOLDER_TYPES:
        raise ApiError(400, "invalid_request", f"'type' must be one of {', '.join(FOLDER_TYPES)}")
    subfolder = fields.get("subfolder", "")
    overwrite = fields.get("overwrite", "").strip().lower() in ("true", "1", "yes")
    root = request.app[FOLDERS].by_type(folder_type)
    name = await asyncio.to_thread(_check_and_save, root, subfolder, filename, data, overwrite)
    return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})


def _check_and_save(root: Path, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str:
    check_image(data)
    return save_upload(root, subfolder, filename, data, overwrite)


async def view_file(request: web.Request) -> web.StreamResponse:
    """A file from input/, output/ or temp/ (`filename`, `type`, `subfolder`)."""
    query = request.query
    filename = query.get("filename", "")
    if not filename:
        raise ApiError(400, "invalid_request", "'filename' is required")
    folder_type = query.get("type") or "output"
    if folder_type not in FOLDER_TYPES:
        raise ApiError(400, "invalid_request", f"'type' must be one of {', '.join(FOLDER_TYPES)}")
    subfolder = query.get("subfolder", "")
    name = f"{subfolder}/{filename}" if subfolder else filename
    try:
        path = request.app[FOLDERS].annotated_path(name, default=folder_type)
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
    if not path.is_file():
        raise ApiError(404, "not_found", f"no file '{name}' in {folder_type}")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    if content_type not in SAFE_TYPES:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(path.name)}"
    else:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(path.name)}"
    headers["Content-Type"] = content_type
    return web.FileResponse(path, headers=headers)


ROUTES = [
    ("POST", "/upload/image", upload_image),
    ("GET", "/view", view_file),
]
