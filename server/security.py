"""Middlewares: refuse foreign web pages while bound to loopback, and turn every error
into a JSON 4xx/5xx so that one bad request never stops the server.

Bound to 127.0.0.1, the server's only callers should be this machine's programs and
pages served by the server itself. A page from another site can still make the browser
send requests here (CSRF) or reach it through a rebound DNS name; both show: the first
in the Origin header, the second in the Host header.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from .config import ServerConfig, is_loopback
from .errors import ApiError, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


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
    """ApiError and aiohttp's HTTP errors become JSON; anything else becomes a logged 500."""
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
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")


def _error_type(status: int) -> str:
    return {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(status, "http_error")
