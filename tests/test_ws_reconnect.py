"""A client that reconnects while its prompt runs (a reloaded browser tab) is told at once
which node is running and how far it got; once the prompt ends nothing is replayed."""
from __future__ import annotations

import asyncio
import json

from server.clients import ClientRegistry
from server.events import EventBridge
from server.previews import PreviewThrottle


def kinds(texts: list[str]) -> list[tuple]:
    return [(m["type"], m["data"].get("node"), m["data"].get("value")) for m in map(json.loads, texts)]


def test_the_running_node_and_its_progress_are_replayed_until_the_prompt_ends():
    async def scenario():
        bridge = EventBridge(ClientRegistry(), PreviewThrottle(1.0))
        bridge.attach(asyncio.get_running_loop())

        async def send(kind, data, client="tab"):
            bridge(kind, {"prompt_id": "p1", **data}, client)
            await asyncio.sleep(0)  # the loop runs what the executor thread handed over

        await send("execution_start", {})
        await send("executing", {"node": "4"})
        await send("executing", {"node": "3"})
        await send("progress", {"value": 2, "max": 5, "node": "3"})
        await send("progress", {"value": 3, "max": 5, "node": "3"})
        await send("executing", {"node": "7"}, client="someone else")
        seen = kinds(bridge.replay("tab"))
        assert seen == [("execution_start", None, None), ("executing", "3", None), ("progress", "3", 3)]
        await send("executing", {"node": "8"})  # the next node: its progress has not started
        assert kinds(bridge.replay("tab"))[1:] == [("executing", "8", None)]
        await send("executing", {"node": None})
        assert bridge.replay("tab") == []
        assert kinds(bridge.replay("someone else")) == [("executing", "7", None)]
        await send("execution_error", {"node_id": "7"}, client="someone else")
        assert bridge.replay("someone else") == [] and bridge.replay("never seen") == []

    asyncio.run(scenario())
