"""The fields of POST /prompt around the workflow itself, checked before anything is queued.

Each limit matches where the value ends up: a client id must be one /ws accepts (or the
prompt's events would reach no one), a prompt id becomes part of file and URL names, a
queue number is stored in SQLite and read back by browsers, and `extra_pnginfo` entries
become PNG text chunks whose keywords PNG restricts to 1-79 Latin-1 characters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from executor.prompt_queue import MAX_NUMBER, usable_number

from .errors import ApiError, expect

MAX_CLIENT_ID = 128
MAX_PROMPT_ID = 128
PROMPT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PNG_KEYWORD = re.compile(r"[\x20-\x7e\xa1-\xff]{1,79}")
# Tokens for paid API nodes: never stored with the queue or shown in the history.
SENSITIVE_EXTRA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


@dataclass
class Envelope:
    prompt: Any
    extra_data: dict
    client_id: Optional[str]
    prompt_id: Optional[str]
    number: Optional[float]
    front: bool


def client_id_problem(value: str) -> Optional[str]:
    """Why a WebSocket client id is unusable, or None; /ws and POST /prompt share the rule."""
    if not value or len(value) > MAX_CLIENT_ID or not value.isprintable():
        return f"must be 1 to {MAX_CLIENT_ID} printable characters"
    return None


def read_envelope(body: dict, max_nodes: int) -> Envelope:
    """The checked fields of a POST /prompt body; an ApiError names the first bad one."""
    if "prompt" not in body:
        raise _refusal("no_prompt", "No prompt provided")
    prompt = body["prompt"]
    if isinstance(prompt, dict) and len(prompt) > max_nodes:
        raise ApiError(413, "prompt_too_large", f"the prompt has {len(prompt)} nodes; this server takes at most "
                       f"{max_nodes} (--max-nodes)", node_errors={})
    extra = expect(body, "extra_data", dict, default={})
    front = expect(body, "front", bool, default=False)
    number = expect(body, "number", (int, float))
    if number is not None and not usable_number(number):
        raise _refusal("invalid_request", f"'number' must be a finite number from -{MAX_NUMBER} to {MAX_NUMBER}")
    client_id = expect(body, "client_id", str)
    if client_id is not None and (problem := client_id_problem(client_id)):
        raise _refusal("invalid_request", f"'client_id' {problem}")
    prompt_id = expect(body, "prompt_id", str)
    if prompt_id is not None and (len(prompt_id) > MAX_PROMPT_ID or not PROMPT_ID_PATTERN.fullmatch(prompt_id)):
        raise _refusal("invalid_request", f"'prompt_id' must be 1 to {MAX_PROMPT_ID} letters, digits, '.', '_' "
                       "or '-', starting with a letter or digit")
    extra = {key: value for key, value in extra.items() if key not in SENSITIVE_EXTRA_KEYS}
    _check_png_info(extra.get("extra_pnginfo"))
    return Envelope(prompt, extra, client_id, prompt_id, number, front)


def _check_png_info(info: Any) -> None:
    """`extra_pnginfo` is written into every saved PNG: refuse what a PNG cannot hold."""
    if info is None:
        return
    if not isinstance(info, dict):
        raise _refusal("invalid_request", "'extra_data.extra_pnginfo' must be an object (PNG text chunk name -> value)")
    for key in info:
        if not PNG_KEYWORD.fullmatch(key) or key != key.strip():
            raise _refusal("invalid_request", f"'extra_data.extra_pnginfo' key {key[:80]!r} cannot name a PNG text "
                           "chunk: 1 to 79 Latin-1 characters without leading or trailing spaces")


def _refusal(error_type: str, message: str) -> ApiError:
    return ApiError(400, error_type, message, node_errors={})
