"""Errors that become JSON responses, and strict reading of JSON request bodies.

Every refusal carries ComfyUI's error shape `{"error": {type, message, details,
extra_info}}`, so clients show one kind of message whatever went wrong.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from aiohttp import web

from executor.json_pieces import loads_in_pieces


class ApiError(Exception):
    """Raised by handlers; the error middleware answers it with `status` and a JSON body."""

    def __init__(self, status: int, error_type: str, message: str, details: str = "", **extra_body: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.details = details
        self.extra_body = extra_body

    def response(self) -> web.Response:
        return error_response(self.status, self.error_type, self.message, self.details, **self.extra_body)


def error_response(status: int, error_type: str, message: str, details: str = "", **extra_body: Any) -> web.Response:
    body = {"error": {"type": error_type, "message": message, "details": details, "extra_info": {}}, **extra_body}
    return web.json_response(body, status=status)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


DEFAULT_MAX_DEPTH = 100
THREAD_DECODE_BYTES = 256 * 1024  # bigger bodies are decoded off the event loop


async def read_json(request: web.Request, *, allow_empty: bool = False, **extra_body: Any) -> Any:
    """The body parsed as JSON whatever the Content-Type (ComfyUI's own example scripts
    post JSON as form data). NaN and Infinity are refused: clients could not read them back.
    Nesting is limited so that nothing downstream recurses into a hostile body."""
    raw = await request.read()  # client_max_size applies: 413 beyond it
    if not raw.strip():
        if allow_empty:
            return None
        raise ApiError(400, "invalid_json", "the request body is empty; JSON expected", **extra_body)
    from .state import CONFIG  # state imports the modules that import this one

    config = request.app.get(CONFIG)
    limit = config.max_json_depth if config is not None else DEFAULT_MAX_DEPTH
    if len(raw) > THREAD_DECODE_BYTES:
        return await asyncio.to_thread(decode_json, raw, limit, extra_body)
    return decode_json(raw, limit, extra_body)


def decode_json(raw: bytes, max_depth: int, extra_body: dict) -> Any:
    """Parse and bound the nesting; every failure is a 400 that says what is wrong."""
    try:
        if len(raw) > THREAD_DECODE_BYTES:  # in pieces: other threads (the event loop) keep running
            value = loads_in_pieces(raw.decode("utf-8"), _no_constants)
        else:
            value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise ApiError(400, "invalid_json", f"the request body nests deeper than {max_depth} levels",
                       **extra_body) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}", **extra_body) from None
    if nesting_exceeds(value, max_depth):
        raise ApiError(400, "invalid_json", f"the request body nests deeper than {max_depth} levels",
                       **extra_body)
    return value


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


async def read_json_object(request: web.Request, *, allow_empty: bool = False, **extra_body: Any) -> dict:
    body = await read_json(request, allow_empty=allow_empty, **extra_body)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object", **extra_body)
    return body


def expect(body: dict, name: str, kinds: type | tuple[type, ...], default: Any = None, what: str = "") -> Any:
    """`body[name]` if it has one of `kinds` (bool is not accepted as a number)."""
    if name not in body or body[name] is None:
        return default
    value = body[name]
    is_bool = isinstance(value, bool)
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if (is_bool and bool not in allowed) or not isinstance(value, allowed):
        raise ApiError(400, "invalid_request", f"'{name}' must be {what or _kind_names(allowed)}")
    return value


def string_list(body: dict, name: str) -> Optional[list[str]]:
    value = expect(body, name, list, what="a list of strings")
    if value is not None and not all(isinstance(v, str) for v in value):
        raise ApiError(400, "invalid_request", f"'{name}' must be a list of strings")
    return value


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", dict: "an object", list: "a list"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))
