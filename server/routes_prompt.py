"""Routes that queue, inspect and stop prompts: /prompt, /queue, /interrupt, /history, /free.

Validation runs on a worker thread (a 10,000-node workflow must not stall the event
loop); a prompt is refused only when none of its outputs can run, as in ComfyUI.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from executor.prompt_queue import MAX_NUMBER, DuplicatePromptId, usable_number

from .config import PreviewMethod
from .errors import ApiError, expect, read_json_object, string_list
from .state import CONFIG, EXECUTOR, EXTENSIONS, QUEUE

MAX_PROMPT_ID = 128
# Tokens for paid API nodes: never stored with the queue or shown in the history.
SENSITIVE_EXTRA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


async def post_prompt(request: web.Request) -> web.Response:
    """Validate and queue a prompt: 200 with its id and number, or 400 with node errors."""
    body = await read_json_object(request, node_errors={})
    body = request.app[EXTENSIONS].run_prompt_hooks(body)
    if "prompt" not in body:
        raise ApiError(400, "no_prompt", "No prompt provided", node_errors={})
    prompt = body["prompt"]
    extra = expect(body, "extra_data", dict, default={})
    client_id = expect(body, "client_id", str)
    front = expect(body, "front", bool, default=False)
    number = expect(body, "number", (int, float))
    if number is not None and not usable_number(number):
        raise ApiError(400, "invalid_request", f"'number' must be a finite number from -{MAX_NUMBER} to {MAX_NUMBER}", node_errors={})
    prompt_id = expect(body, "prompt_id", str)
    queue = request.app[QUEUE]
    if prompt_id is not None:
        if not prompt_id or len(prompt_id) > MAX_PROMPT_ID or not prompt_id.isprintable():
            raise ApiError(400, "invalid_request", f"'prompt_id' must be 1 to {MAX_PROMPT_ID} printable characters")
        if queue.knows(prompt_id):
            raise ApiError(400, "invalid_request", f"prompt id '{prompt_id}' is already in use", node_errors={})

    _, checked = await asyncio.to_thread(request.app[EXECUTOR].validate, prompt)
    if not checked.ok:
        return web.json_response(checked.as_response(), status=400)

    extra = {key: value for key, value in extra.items() if key not in SENSITIVE_EXTRA_KEYS}
    extra["create_time"] = int(time.time() * 1000)  # the server's clock: jobs are sorted by it
    if client_id is not None:
        extra["client_id"] = client_id
    default_preview = request.app[CONFIG].preview_method
    if "preview_method" not in extra and default_preview is not PreviewMethod.NONE:
        extra["preview_method"] = default_preview.value
    try:
        item = queue.put(prompt, extra, checked.outputs, prompt_id=prompt_id, number=number, front=front)
    except DuplicatePromptId as exc:
        raise ApiError(400, "invalid_request", str(exc), node_errors={}) from None
    return web.json_response({"prompt_id": item.prompt_id, "number": item.number, "node_errors": checked.node_errors})


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(request.app[QUEUE].status()["status"])


async def get_queue(request: web.Request) -> web.Response:
    running, pending = request.app[QUEUE].snapshot()
    return web.json_response({"queue_running": running, "queue_pending": pending})


async def post_queue(request: web.Request) -> web.Response:
    """`{"clear": true}` empties the pending queue; `{"delete": [ids]}` removes some."""
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
