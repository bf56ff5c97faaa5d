"""Helpers for the server tests: an app on tmp folders, async tests without plugins,
WebSocket collection, and a node registry with a gate node that blocks until released."""
from __future__ import annotations

import asyncio
import functools
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from bench.trivial_nodes import TRIVIAL
from nodes.registry import Node, NodeRegistry, register_node
from nodes.spec import Int, Output, Socket
from server.app import create_app
from server.config import ServerConfig

SERVER_NODES = NodeRegistry()
for _cls in TRIVIAL:
    SERVER_NODES.add(_cls)

GATE = threading.Event()  # Gate nodes wait for this (or an interrupt)
GATE_ENTERED = threading.Event()  # set when a Gate node starts waiting


@register_node("Gate", category="test", registry=SERVER_NODES)
class Gate(Node):
    """Passes its input on once GATE is set; honours interrupts while it waits."""

    a = Socket("INT")
    tag = Int(default=0, min=0, max=10**6)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, a: int, tag: int) -> tuple:
        GATE_ENTERED.set()
        deadline = time.monotonic() + 20
        while not GATE.wait(0.01):
            ctx.check_interrupted()
            if time.monotonic() > deadline:
                raise TimeoutError("gate never opened")
        return (a,)


def gated_workflow(value: int = 1, tag: int = 0) -> dict:
    return {
        "1": {"class_type": "IntConst", "inputs": {"value": value}},
        "2": {"class_type": "Gate", "inputs": {"a": ["1", 0], "tag": tag}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }


def sink_workflow(value: int) -> dict:
    return {
        "1": {"class_type": "IntConst", "inputs": {"value": value}},
        "2": {"class_type": "AddOne", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }


def async_test(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async test function with asyncio.run (fixtures still work)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=60))

    return wrapper


def make_config(base: Path, **overrides: Any) -> ServerConfig:
    return ServerConfig(base_dir=base, **overrides)


def make_client(base: Path, registry: Optional[NodeRegistry] = SERVER_NODES, **overrides: Any) -> TestClient:
    app = create_app(make_config(base, **overrides), registry=registry)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def queue_prompt(client: TestClient, prompt: dict, **body: Any) -> dict:
    response = await client.post("/prompt", json={"prompt": prompt, **body})
    data = await response.json()
    assert response.status == 200, data
    return data


async def wait_for_history(client: TestClient, prompt_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/history/{prompt_id}")
        data = await response.json()
        if prompt_id in data:
            return data[prompt_id]
        await asyncio.sleep(0.02)
    raise AssertionError(f"prompt {prompt_id} never reached the history")


async def collect_until_done(ws, prompt_id: str, timeout: float = 30.0) -> tuple[list[dict], list[bytes]]:
    """JSON messages and binary frames until `executing` with node null for `prompt_id`."""
    messages: list[dict] = []
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.type == WSMsgType.BINARY:
            frames.append(message.data)
            continue
        assert message.type == WSMsgType.TEXT, message
        data = message.json()
        messages.append(data)
        if (
            data["type"] == "executing"
            and data["data"]["node"] is None
            and data["data"].get("prompt_id") == prompt_id
        ):
            return messages, frames


async def drain(ws, seconds: float = 0.2) -> list:
    """Whatever arrives within `seconds` (for checking that nothing does)."""
    got = []
    try:
        while True:
            message = await ws.receive(timeout=seconds)
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                return got
            got.append(message)
    except asyncio.TimeoutError:
        return got
