"""Prompts on Ray workers against the in-process worker, through the real server (HTTP
and WebSocket on loopback), in one run.

    .venv/bin/python -m bench.ray_bench [--prompts 8] [--steps 20] [--overhead-prompts 40]

Prints:
- prompts per second on the built-in model (workflows/txt2img.json, each prompt its own
  seed, models already loaded) with the local worker, one Ray worker and two;
- the dispatch overhead per prompt: the median time from POST /prompt to
  `execution_success` of a trivial 3-node prompt on one Ray worker, minus the same on the
  local worker.
A private local Ray instance is started and shut down again; each worker gets one CPU
(Ray sets its torch threads to match), the local worker all of them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional

import aiohttp
from aiohttp.test_utils import TestServer

from bench.trivial_nodes import TRIVIAL
from nodes.registry import REGISTRY, NodeRegistry
from server.app import create_app
from server.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
NODES = NodeRegistry()  # the workers import it by name: the app's nodes and the trivial ones
for _cls in (*REGISTRY, *TRIVIAL):
    NODES.add(_cls)


def txt2img(seed: int, steps: int) -> dict:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["3"]["inputs"].update(seed=seed, steps=steps)
    prompt["9"]["inputs"]["filename_prefix"] = "bench"
    return prompt


def trivial(value: int) -> dict:
    return {"1": {"class_type": "IntConst", "inputs": {"value": value}},
            "2": {"class_type": "AddOne", "inputs": {"a": ["1", 0]}},
            "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}}}


class Session:
    """One client of a served app: posts prompts and hears their ends on the WebSocket."""

    def __init__(self, http: aiohttp.ClientSession, url: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.url, self.ws = http, url, ws

    async def post(self, prompt: dict) -> str:
        async with self.http.post(f"{self.url}/prompt", json={"prompt": prompt, "client_id": "bench"}) as response:
            data = await response.json()
            assert response.status == 200, data
            return data["prompt_id"]

    async def wait_all(self, prompt_ids: set[str]) -> None:
        left = set(prompt_ids)
        while left:
            message = await self.ws.receive_json(timeout=600)
            if message["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                assert message["type"] == "execution_success", message
                left.discard(message["data"]["prompt_id"])


async def serve(base: Path, runners: Optional[list], job) -> object:
    config = ServerConfig(base_dir=base, models_dir=ROOT / "models", database=base / f"db{time.monotonic_ns()}.sqlite3")
    server = TestServer(create_app(config, registry=NODES, runners=runners), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{url}/ws?clientId=bench")
            await ws.receive_json()
            result = await job(Session(http, url, ws))
            await ws.close()
            return result
    finally:
        await server.close()


def throughput(count: int, steps: int, warm: int, first_seed: int):
    """Seeds never used before: a worker's cache would otherwise answer at once."""
    async def job(session: Session) -> float:
        seeds = iter(range(first_seed, first_seed + warm + count))
        await session.wait_all({await session.post(txt2img(next(seeds), steps)) for _ in range(warm)})  # models loaded
        started = time.perf_counter()
        await session.wait_all({await session.post(txt2img(next(seeds), steps)) for _ in range(count)})
        return count / (time.perf_counter() - started)
    return job


def round_trips(count: int):
    async def job(session: Session) -> list[float]:
        await session.wait_all({await session.post(trivial(-1))})
        times = []
        for value in range(count):
            started = time.perf_counter()
            await session.wait_all({await session.post(trivial(value))})
            times.append(time.perf_counter() - started)
        return times
    return job


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8, help="txt2img prompts per configuration (default 8)")
    parser.add_argument("--steps", type=int, default=20, help="sampler steps of each (default 20)")
    parser.add_argument("--overhead-prompts", type=int, default=40, help="trivial prompts for the overhead (default 40)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import ray

    from cluster.pool import PoolOptions, start_workers, stop_workers
    from cluster.settings import WorkerSettings
    from nodes.folders import Folders

    base = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    ray_temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    settings = WorkerSettings(base_dir=str(base), models_dir=str(ROOT / "models"), registry="bench.ray_bench:NODES")
    folders = Folders.under(base, ROOT / "models")
    runners = start_workers(PoolOptions(workers=2, temp_dir=ray_temp), settings, folders)
    try:
        deadline = time.monotonic() + 300
        while not all(runner.ready() for runner in runners):
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not start: {[r.describe() for r in runners]}")
        threads = [runner.describe()["threads"] for runner in runners]
        import torch

        print(f"torch threads: local worker {torch.get_num_threads()}, Ray workers {threads}")
        rates = {}
        configurations = (("local worker", None), ("1 Ray worker", runners[:1]), ("2 Ray workers", runners))
        for index, (label, pool) in enumerate(configurations):
            job = throughput(args.prompts, args.steps, warm=2 * len(pool or [0]), first_seed=10_000 * (index + 1))
            rates[label] = asyncio.run(serve(base, pool, job))
            print(f"{label:>14}: {rates[label]:.3f} prompts/s ({args.prompts} txt2img prompts, {args.steps} steps)")
        print(f"2 Ray workers / 1 Ray worker: {rates['2 Ray workers'] / rates['1 Ray worker']:.2f}x; "
              f"1 Ray worker / local: {rates['1 Ray worker'] / rates['local worker']:.2f}x")
        local = statistics.median(asyncio.run(serve(base, None, round_trips(args.overhead_prompts))))
        remote = statistics.median(asyncio.run(serve(base, runners[:1], round_trips(args.overhead_prompts))))
        print(f"trivial prompt round trip (median of {args.overhead_prompts}): local {local * 1000:.1f} ms, "
              f"Ray worker {remote * 1000:.1f} ms: dispatch overhead {(remote - local) * 1000:.1f} ms per prompt")
    finally:
        stop_workers(runners)
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
