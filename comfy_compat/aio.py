"""Pack code may be async (async FUNCTIONs, comfy_entrypoint); the app calls it from plain
threads, and sometimes from inside a running event loop (an app built in a test)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from typing import Any


def run_sync(value: Any) -> Any:
    """The result of `value`, awaiting it first if it is awaitable."""
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()
