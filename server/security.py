"""Middlewares: refuse foreign web pages while bound to loopback, and turn every error
into a JSON 4xx/5xx so that one bad request never stops the server. Also the checks on
file names a request brings, and the answers for file system errors, so that no
request learns where the server keeps its files.

Bound to 127.0.0.1, the server's only callers should be this machine's programs and
pages served by the server itself. A page from another site can still make the browser
send requests here (CSRF) or reach it through a rebound DNS name; both show: the first
in the Origin header, the second in the Host header.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import unicodedata
from typing import Awaitable, Callable, Optional
from urllib.parse import urlsplit

from aiohttp import web

from .config import ServerConfig, is_loopback
from .errors import ApiError, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_PART_BYTES = 255  # one file or folder name, as file systems allow
MAX_NAME_BYTES = 1024  # a whole relative name; PATH_MAX is 4096 with the server's folders in front
INTERNAL_ERROR = "internal error (see the server log)"


def _host_port(netloc: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port or default_port
    except ValueError:
        port = -1
    return (parts.hostname or "").lower(), port


def origin_allowed(origin: str, host_header: str, scheme: str) -> bool:
    """Same host and port as the request was addressed to, or both on loopback."""
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False  # "null" (sandboxed frames, file://) and anything odd
    default = 443 if parsed.scheme == "https" else 80
    origin_host, origin_port = _host_port(parsed.netloc, default)
    host, port = _host_port(host_header, 443 if scheme == "https" else 80)
    if origin_port != port:
        return False
    return origin_host == host or (is_loopback(origin_host) and is_loopback(host))


def origin_middleware(config: ServerConfig):
    """Refuse (403) state-changing requests and WebSocket handshakes from foreign
    origins, and any request naming a non-loopback host, while bound to loopback."""

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if config.loopback_only:
            host_name, _ = _host_port(request.host, config.port)
            if not is_loopback(host_name):
                raise ApiError(403, "forbidden_host", f"host '{request.host}' is not this machine")
            origin = request.headers.get("Origin")
            changes_state = request.method not in SAFE_METHODS
            is_websocket = request.headers.get("Upgrade", "").lower() == "websocket"
            if origin is not None and (changes_state or is_websocket):
                if not origin_allowed(origin, request.host, request.scheme):
                    raise ApiError(403, "forbidden_origin", f"requests from '{origin}' are not allowed")
        return await handler(request)

    return check_origin


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError and aiohttp's HTTP errors become JSON; anything else is a bug: logged with
    its traceback, answered with a 500 that tells nothing about the server's insides."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, _error_type(exc.status), exc.text or exc.reason)
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "server_error", INTERNAL_ERROR)


def _error_type(status: int) -> str:
    return {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(status, "http_error")


# -- names and file system errors --------------------------------------------------------


def name_problem(name: str) -> Optional[str]:
    """Why a relative file name from a request cannot be used on disk, or None. Caught
    here, these would otherwise surface as OSError or UnicodeEncodeError deep in a route."""
    if "\x00" in name:
        return "contains a NUL byte"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "contains control characters"
    if len(encoded) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    parts = name.replace("\\", "/").split("/")
    if any(len(part.encode("utf-8")) > MAX_PART_BYTES for part in parts):
        what = "is" if len(parts) == 1 else "has a file or folder name"
        return f"{what} longer than {MAX_PART_BYTES} bytes, the most a file system allows"
    return None


def short_name(name: str, limit: int = 80) -> str:
    """A name as a message may quote it: cut when long, odd characters escaped."""
    shown = name if name.isprintable() else ascii(name)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def check_name(name: str, what: str = "the name") -> str:
    """`name`, or a 400 that says what is wrong with it."""
    problem = name_problem(name)
    if problem is not None:
        raise ApiError(400, "invalid_filename", f"{what} '{short_name(name)}' {problem}")
    return name


# errno -> (status, error type, what the user is told)
OS_ERRORS = {
    errno.ENAMETOOLONG: (400, "name_too_long", "the name is too long for the file system"),
    errno.EISDIR: (409, "is_a_folder", "a folder has that name"),
    errno.ENOTDIR: (409, "not_a_folder", "a file is in the way of one of its folders"),
    errno.EEXIST: (409, "already_exists", "something with that name already exists"),
    errno.ENOENT: (404, "not_found", "it does not exist"),
    errno.EACCES: (403, "permission_denied", "the server is not allowed to use it"),
    errno.EPERM: (403, "permission_denied", "the server is not allowed to use it"),
    errno.EROFS: (403, "read_only", "the folder is read-only"),
    errno.ELOOP: (400, "symlink_loop", "its symbolic links go round in a loop"),
    errno.ENOSPC: (507, "disk_full", "the disk is full"),
}


def os_error(exc: OSError, name: str, where: str) -> ApiError:
    """The answer for a file system error on `name` in `where` (such as "input/"): the
    cause in words, never the absolute path the OSError carries (that goes to the log)."""
    status, kind, why = OS_ERRORS.get(exc.errno, (500, "file_error", exc.strerror or type(exc).__name__))
    log.log(logging.WARNING if status >= 500 else logging.INFO, "file system error on %r in %s: %s", name, where, exc)
    return ApiError(status, kind, f"'{short_name(name)}' in {where} cannot be used: {why}")
