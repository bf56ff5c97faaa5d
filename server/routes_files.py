"""Files over HTTP: POST /upload/image, POST /upload/mask and GET /view, confined to
input/output/temp; GET /view_metadata/{folder} reads a model's safetensors metadata.

Uploads are read part by part with a byte limit (a 10 GB body is refused after 50 MB,
not buffered), decoded by Pillow on a worker thread before anything is written. Every
refusal names files relative to their folder (input/, output/, temp/); where the
server keeps those folders stays in its log.
"""
from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from nodes.folders import UnsafePathError

from . import image_views
from .errors import ApiError
from .security import check_name, os_error, short_name
from .state import CONFIG, FOLDERS
from .uploads import check_file_name, check_image, save_upload, where

log = logging.getLogger(__name__)

FIELD_LIMIT = 4096
FOLDER_TYPES = ("input", "output", "temp")
UPLOAD_FIELDS = ("type", "subfolder", "overwrite", "original_ref")
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


async def _read_upload(request: web.Request, file_field: str = "image") -> tuple[dict[str, str], bytes, str]:
    """The multipart upload's short fields, and the file's bytes and name."""
    limit = request.app[CONFIG].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise ApiError(413, "request_too_large", f"uploads are limited to {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "invalid_request", "upload with multipart/form-data")
    try:
        return await _read_parts(request, file_field, limit)
    except HttpProcessingError:
        raise ApiError(400, "invalid_multipart", "a part header of the upload is malformed "
                                                 "(control characters such as NUL are not allowed in it, "
                                                 "nor in the file name)") from None
    except (KeyError, ValueError) as exc:
        raise ApiError(400, "invalid_multipart", f"the upload is not valid multipart/form-data: "
                                                 f"{short_name(str(exc), 200)}") from None


async def _read_parts(request: web.Request, file_field: str, limit: int) -> tuple[dict[str, str], bytes, str]:
    reader = await request.multipart()
    fields: dict[str, str] = {}
    data, filename = None, ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "invalid_request", "nested multipart bodies are not accepted")
        if part.name == file_field:
            filename = part.filename or ""
            data = await _read_part(part, limit, "the image")
        else:
            value = await _read_part(part, FIELD_LIMIT, f"field '{short_name(part.name or '')}'")
            if part.name in UPLOAD_FIELDS:
                fields[part.name] = value.decode("utf-8", errors="replace")
    if data is None:
        raise ApiError(400, "invalid_request", f"no '{file_field}' field in the upload")
    return fields, data, filename


def _destination(request: web.Request, fields: dict[str, str]) -> tuple[Path, str, str, bool]:
    """(folder root, folder type, subfolder, overwrite) an upload asks for."""
    folder_type = fields.get("type") or "input"
    if folder_type not in FOLDER_TYPES:
        raise ApiError(400, "invalid_request", f"'type' must be one of {', '.join(FOLDER_TYPES)}")
    overwrite = fields.get("overwrite", "").strip().lower() in ("true", "1", "yes")
    return request.app[FOLDERS].by_type(folder_type), folder_type, fields.get("subfolder", ""), overwrite


async def upload_image(request: web.Request) -> web.Response:
    """Multipart fields `image` (the file), `type`, `subfolder`, `overwrite`."""
    fields, data, filename = await _read_upload(request)
    root, folder_type, subfolder, overwrite = _destination(request, fields)
    name = await asyncio.to_thread(_check_and_save, root, folder_type, subfolder, filename, data, overwrite)
    return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})


def _original_ref(request: web.Request, text: str) -> Path:
    """The image a mask belongs to, from `original_ref` ({"filename", "subfolder"?, "type"?})."""
    try:
        ref = json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid_request", "'original_ref' must be JSON") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str) or not ref["filename"]:
        raise ApiError(400, "invalid_request", "'original_ref' needs a 'filename'")
    folder_type = ref.get("type") or "output"
    if folder_type not in FOLDER_TYPES:
        raise ApiError(400, "invalid_request", f"'original_ref.type' must be one of {', '.join(FOLDER_TYPES)}")
    return _file_in(request, folder_type, str(ref.get("subfolder") or ""), ref["filename"])


async def upload_mask(request: web.Request) -> web.Response:
    """The mask editor's save: `image` (the painted mask) becomes the alpha channel of the
    image `original_ref` names, saved like an upload (never over another file unless asked)."""
    fields, data, filename = await _read_upload(request)
    original = _original_ref(request, fields.get("original_ref", ""))
    root, folder_type, subfolder, overwrite = _destination(request, fields)
    if not _is_file(original, original.name, "the folder of 'original_ref'"):
        raise ApiError(404, "not_found", f"no image '{short_name(original.name)}' to apply the mask to")

    def combine_and_save() -> str:
        check_file_name(filename)
        check_image(data)
        masked = image_views.masked_original(original, data)
        return save_upload(root, subfolder, filename, masked, overwrite, folder_type)

    name = await asyncio.to_thread(combine_and_save)
    return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})


def _check_and_save(root: Path, folder_type: str, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str:
    check_file_name(filename)  # the cheap refusals first
    check_image(data)
    return save_upload(root, subfolder, filename, data, overwrite, folder_type)


def _file_in(request: web.Request, folder_type: str, subfolder: str, filename: str) -> Path:
    """The file a request names; odd names are a 400 before the file system sees them."""
    check_name(filename, "the file name")
    if subfolder:
        check_name(subfolder, "the subfolder")
    name = check_name(f"{subfolder}/{filename}" if subfolder else filename)
    try:
        return request.app[FOLDERS].annotated_path(name, default=folder_type)
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
    except OSError as exc:
        raise os_error(exc, name, f"{folder_type}/") from None


def _is_file(path: Path, name: str, place: str) -> bool:
    """path.is_file(), with the file system's refusals as 4xx answers."""
    try:
        return path.is_file()
    except OSError as exc:
        raise os_error(exc, name, place) from None


async def view_file(request: web.Request) -> web.StreamResponse:
    """A file from input/, output/ or temp/ (`filename`, `type`, `subfolder`); images also
    as `preview=webp;90` (format;quality) or one `channel` (rgb, a, rgba)."""
    query = request.query
    filename = query.get("filename", "")
    if not filename:
        raise ApiError(400, "invalid_request", "'filename' is required")
    folder_type = query.get("type") or "output"
    if folder_type not in FOLDER_TYPES:
        raise ApiError(400, "invalid_request", f"'type' must be one of {', '.join(FOLDER_TYPES)}")
    subfolder = query.get("subfolder", "")
    path = _file_in(request, folder_type, subfolder, filename)
    place = where(folder_type, subfolder)
    if not _is_file(path, filename, place):
        if os.path.isdir(path):
            raise ApiError(404, "not_found", f"'{short_name(filename)}' in {place} is a folder, not a file")
        raise ApiError(404, "not_found", f"no file '{short_name(filename)}' in {place}")
    channel = query.get("channel", "").lower()  # none given, or another value: the file as it is
    inline = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
              "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.name)}"}
    if "preview" in query:
        body, content_type = await _image_variant(image_views.preview, path, query["preview"], channel)
        return web.Response(body=body, content_type=content_type, headers=inline)
    if channel in ("rgb", "a"):
        body = await _image_variant(image_views.channel_view, path, channel)
        return web.Response(body=body, content_type="image/png", headers=inline)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = dict(inline)
    if content_type not in SAFE_TYPES:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(path.name)}"
    headers["Content-Type"] = content_type
    return web.FileResponse(path, headers=headers)


async def _image_variant(make, path: Path, *args: str):
    """A preview or channel of an image; a file Pillow cannot convert is a 400."""
    try:
        return await asyncio.to_thread(make, path, *args)
    except (OSError, ValueError) as exc:
        log.info("no variant of %s: %s", path, exc)
        raise ApiError(400, "invalid_image", f"'{short_name(path.name)}' cannot be shown this way "
                                             f"({type(exc).__name__})") from None


async def view_metadata(request: web.Request) -> web.Response:
    """GET /view_metadata/{folder}?filename=x.safetensors: the file's `__metadata__`."""
    kind, filename = request.match_info["folder"], request.query.get("filename", "")
    folders = request.app[FOLDERS]
    if kind not in folders.model_folders or not filename.endswith(".safetensors"):
        raise ApiError(404, "not_found", "a model folder and a .safetensors 'filename' are needed")
    if filename not in await asyncio.to_thread(folders.list_models, kind):
        raise ApiError(404, "not_found", f"no model '{filename}' in {kind}")
    try:
        metadata = await asyncio.to_thread(image_views.safetensors_metadata, folders.model_path(kind, filename))
    except Exception as exc:  # the header parser's errors may quote the file's full path
        log.info("no safetensors header in %s %r: %s", kind, filename, exc)
        raise ApiError(400, "invalid_model", f"'{short_name(filename)}' has no readable safetensors header") from None
    if not metadata:
        raise ApiError(404, "not_found", f"'{filename}' carries no metadata")
    return web.json_response(metadata)


ROUTES = [
    ("POST", "/upload/image", upload_image),
    ("POST", "/upload/mask", upload_mask),
    ("GET", "/view", view_file),
    ("GET", "/view_metadata/{folder}", view_metadata),
]
