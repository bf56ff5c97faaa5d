"""Server overhead on trivial integer nodes, over real loopback HTTP and WebSockets.

    .venv/bin/python -m bench.server_bench [--nodes 1000] [--prompts 200] [--clients 50]

Prints three figures (medians):
- POST /prompt of an N-node chain: time to the HTTP answer, and to `execution_success`
  on the WebSocket (cold: a changed constant at the root makes every node run);
- prompts per second for identical, fully cached workflows queued back to back;
- fan-out: time from a queue change (POST /queue) until all K WebSocket clients got
  the `status` message.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from bench.trivial_nodes import TRIVIAL, chain_workflow
from server.app import create_app
from server.config import ServerConfig


async def wait_for(ws: aiohttp.ClientWebSocketResponse, kind: str, prompt_id: str | None = None) -> None:
    while True:
        message = await ws.receive_json(timeout=120)
        if message["type"] == kind and (prompt_id is None or message["data"].get("prompt_id") == prompt_id):
            return


async def post_latency(session, url: str, nodes: int, rounds: int) -> tuple[list[float], list[float]]:
    ws = await session.ws_connect(f"{url}/ws?clientId=bench")
    await ws.receive_json()
    answered, finished = [], []
    for i in range(rounds):
        prompt = chain_workflow(nodes)
        prompt["0"]["inputs"]["value"] = i + 1
        started = time.perf_counter()
        async with session.post(f"{url}/prompt", json={"prompt": prompt, "client_id": "bench"}) as response:
            prompt_id = (await response.json())["prompt_id"]
        answered.append(time.perf_counter() - started)
        await wait_for(ws, "execution_success", prompt_id)
        finished.append(time.perf_counter() - started)
    await ws.close()
    return answered, finished


async def cached_throughput(session, url: str, count: int) -> float:
    ws = await session.ws_connect(f"{url}/ws?clientId=throughput")
    await ws.receive_json()
    prompt = chain_workflow(10)
    body = {"prompt": prompt, "client_id": "throughput"}
    async with session.post(f"{url}/prompt", json=body) as response:  # warm the cache
        first = (await response.json())["prompt_id"]
    await wait_for(ws, "execution_success", first)
    started = time.perf_counter()
    last = None
    for _ in range(count):
        async with session.post(f"{url}/prompt", json=body) as response:
            last = (await response.json())["prompt_id"]
    await wait_for(ws, "execution_success", last)
    elapsed = time.perf_counter() - started
    await ws.close()
    return count / elapsed


async def fan_out(session, url: str, clients: int, rounds: int) -> list[float]:
    sockets = [await session.ws_connect(f"{url}/ws?clientId=fan{i}") for i in range(clients)]
    for ws in sockets:
        await ws.receive_json()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.post(f"{url}/queue", json={"clear": True}) as response:
            assert response.status == 200
        await asyncio.gather(*(wait_for(ws, "status") for ws in sockets))
        times.append(time.perf_counter() - started)
    for ws in sockets:
        await ws.close()
    return times


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = ServerConfig(base_dir=Path(folder), history_limit=100_000)
        server = TestServer(create_app(config, registry=TRIVIAL), host="127.0.0.1")
        await server.start_server()
        url = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as session:
                answered, finished = await post_latency(session, url, args.nodes, args.rounds)
                print(f"POST /prompt, chain of {args.nodes} nodes (cold run): "
                      f"answered {ms(answered)}, execution_success {ms(finished)}")
                rate = await cached_throughput(session, url, args.prompts)
                print(f"identical cached workflows: {rate:.0f} prompts/s ({args.prompts} prompts)")
                times = await fan_out(session, url, args.clients, args.rounds)
                print(f"WebSocket fan-out to {args.clients} clients: {ms(times)} (POST /queue -> all got status)")
        finally:
            await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
