"""Routes that queue, inspect and stop prompts: /prompt, /queue, /interrupt, /history, /free.

A big prompt is decoded, validated and stored on worker threads, in small pieces and
without full garbage collections, so a 100,000-node workflow never stalls the event loop;
a prompt is refused only when none of its outputs can run, as in ComfyUI.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from executor.prompt_queue import DuplicatePromptId

from .config import PreviewMethod
from .errors import THREAD_DECODE_BYTES, ApiError, expect, read_json_object, string_list
from .gc_pause import collection_paused
from .prompt_envelope import read_envelope
from .state import CONFIG, EXECUTOR, EXTENSIONS, QUEUE


HUGE_PROMPT_BYTES = THREAD_DECODE_BYTES  # bodies this big are decoded in pieces, without full collections


async def post_prompt(request: web.Request) -> web.Response:
    """Validate and queue a prompt: 200 with its id and number, or 400 with node errors."""
    if (request.content_length or 0) > HUGE_PROMPT_BYTES:
        with collection_paused():
            return await _post_prompt(request)
    return await _post_prompt(request)


async def _post_prompt(request: web.Request) -> web.Response:
    body = await read_json_object(request, node_errors={})
    body = request.app[EXTENSIONS].run_prompt_hooks(body)
    envelope = read_envelope(body, request.app[CONFIG].max_prompt_nodes)
    queue = request.app[QUEUE]
    if envelope.prompt_id is not None and queue.knows(envelope.prompt_id):
        raise ApiError(400, "invalid_request", f"prompt id '{envelope.prompt_id}' is already in use", node_errors={})

    _, checked = await asyncio.to_thread(request.app[EXECUTOR].validate, envelope.prompt)
    if not checked.ok:
        return web.json_response(checked.as_response(), status=400)

    extra = envelope.extra_data
    extra["create_time"] = int(time.time() * 1000)  # the server's clock: jobs are sorted by it
    if envelope.client_id is not None:
        extra["client_id"] = envelope.client_id
    default_preview = request.app[CONFIG].preview_method
    if "preview_method" not in extra and default_preview is not PreviewMethod.NONE:
        extra["preview_method"] = default_preview.value
    try:  # the store writes the whole prompt as JSON: off the loop
        item = await asyncio.to_thread(queue.put, envelope.prompt, extra, checked.outputs,
                                       prompt_id=envelope.prompt_id, number=envelope.number, front=envelope.front)
    except DuplicatePromptId as exc:
        raise ApiError(400, "invalid_request", str(exc), node_errors={}) from None
    return web.json_response({"prompt_id": item.prompt_id, "number": item.number, "node_errors": checked.node_errors})


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(request.app[QUEUE].status()["status"])


async def get_queue(request: web.Request) -> web.Response:
    running, pending = request.app[QUEUE].snapshot()
    return web.json_response({"queue_running": running, "queue_pending": pending})


async def post_queue(request: web.Request) -> web.Response:
    """`{"clear": true}` empties the pending queue; `{"delete": [ids]}` removes those
    pending and interrupts the running one if named (it ends in the history as interrupted)."""
    body = await read_json_object(request)
    clear = expect(body, "clear", bool, default=False)
    delete = string_list(body, "delete")
    queue = request.app[QUEUE]
    if clear:
        queue.clear()
    if delete:
        queue.delete(delete)
    return web.Response(status=200)


async def post_interrupt(request: web.Request) -> web.Response:
    """Stop the running prompt (only the one named by an optional `prompt_id`)."""
    body = await read_json_object(request, allow_empty=True)
    prompt_id = expect(body, "prompt_id", str)
    request.app[QUEUE].interrupt(prompt_id)
    return web.Response(status=200)


def _history_window(request: web.Request) -> tuple[Any, int]:
    values = []
    for name in ("max_items", "offset"):
        text = request.query.get(name)
        if text is None:
            values.append(None)
            continue
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, "invalid_request", f"'{name}' must be a whole number") from None
        if value < 0:
            raise ApiError(400, "invalid_request", f"'{name}' must not be negative")
        values.append(value)
    return values[0], values[1] or 0


async def get_history(request: web.Request) -> web.Response:
    max_items, offset = _history_window(request)
    store = request.app[QUEUE].store
    history = await asyncio.to_thread(store.history, max_items, offset)
    return web.json_response(history)


async def get_history_entry(request: web.Request) -> web.Response:
    prompt_id = request.match_info["prompt_id"]
    entry = request.app[QUEUE].store.history_entry(prompt_id)
    return web.json_response({prompt_id: entry} if entry is not None else {})


async def post_history(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    clear = expect(body, "clear", bool, default=False)
    delete = string_list(body, "delete")
    store = request.app[QUEUE].store
    if clear:
        store.clear_history()
    if delete:
        store.delete_history(delete)
    return web.Response(status=200)


async def post_free(request: web.Request) -> web.Response:
    """Drop cached outputs and loaded models; done between prompts, never during one."""
    body = await read_json_object(request, allow_empty=True)
    unload = expect(body, "unload_models", bool, default=False)
    free = expect(body, "free_memory", bool, default=False)
    request.app[QUEUE].request_free(unload, free)
    return web.Response(status=200)


ROUTES = [
    ("POST", "/prompt", post_prompt),
    ("GET", "/prompt", get_prompt),
    ("GET", "/queue", get_queue),
    ("POST", "/queue", post_queue),
    ("POST", "/interrupt", post_interrupt),
    ("GET", "/history", get_history),
    ("GET", "/history/{prompt_id}", get_history_entry),
    ("POST", "/history", post_history),
    ("POST", "/free", post_free),
]
