"""Prompts on two CPU workers of a private local Ray cluster, through the real server.

One Ray instance and two worker actors (the session's `ray_pool`, tests/ray_support.py)
serve every test; each builds an app over them.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from comfy_compat.setup import load_headless  # noqa: E402
from nodes.folders import Folders  # noqa: E402
from nodes.registry import NodeRegistry  # noqa: E402
from server.app import create_app  # noqa: E402

from .ray_support import WORKER_TIMEOUT_S  # noqa: E402
from .ray_test_nodes import NODES  # noqa: E402
from .server_support import collect_until_done, make_config, queue_prompt, wait_for_history  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def ray_test(fn):
    """An async test with room for a worker's timeout and restart on a busy machine."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=240))

    return wrapper


@pytest.fixture(scope="module")
def base(ray_pool) -> Path:
    return ray_pool[0]


@pytest.fixture(scope="module")
def workers(ray_pool) -> list:
    return ray_pool[1]


@pytest.fixture(scope="module")
def head_nodes(base) -> NodeRegistry:
    """The server's registry: the workers' nodes and the same pack, loaded here too."""
    registry = NodeRegistry()
    for cls in NODES:
        registry.add(cls)
    load_headless(base / "custom_nodes", Folders.under(base), registry)
    return registry


def client_for(base: Path, tmp_path: Path, runners, registry: NodeRegistry = NODES) -> TestClient:
    app = create_app(make_config(base, database=tmp_path / "db.sqlite3"), registry=registry, runners=runners)
    return TestClient(TestServer(app, host="127.0.0.1"))


def txt2img(seed: int, ckpt: str = "tiny_a.safetensors", slow: float = 0.0) -> dict:
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=3, seed=seed)
    prompt["9"]["inputs"]["filename_prefix"] = "ray"
    if slow:
        prompt["20"] = {"class_type": "SlowPass", "inputs": {"image": ["8", 0], "seconds": slow}}
        prompt["9"]["inputs"]["images"] = ["20", 0]
    return prompt


async def free_all(client: TestClient) -> None:
    """Unload both workers' models (done before each one's next prompt)."""
    assert (await client.post("/free", json={"unload_models": True, "free_memory": True})).status == 200


async def run_one(client: TestClient, prompt: dict, **body) -> dict:
    """Run a prompt and wait until every worker is idle again (the history comes first)."""
    queued = await queue_prompt(client, prompt, **body)
    entry = await wait_for_history(client, queued["prompt_id"], timeout=120)
    deadline = time.monotonic() + 30
    while any(w["prompt_id"] for w in await workers_now(client)):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    return entry


async def workers_now(client: TestClient) -> list[dict]:
    return (await (await client.get("/system_stats")).json())["workers"]


@ray_test
async def test_sixteen_prompts_from_four_clients_spread_over_both_workers(base, tmp_path, workers):
    async with client_for(base, tmp_path, workers) as client:
        sockets = [await client.ws_connect(f"/ws?clientId=c{n}") for n in range(4)]
        queued = {}
        for n in range(16):
            data = await queue_prompt(client, txt2img(seed=1000 + n), client_id=f"c{n % 4}")
            queued[data["prompt_id"]] = f"c{n % 4}"
        done = {}

        async def hear_all(n: int, ws) -> set:  # every socket read at once: none falls behind
            mine, ended = {pid for pid, owner in queued.items() if owner == f"c{n}"}, set()
            while ended != mine:
                message = await ws.receive_json(timeout=120)
                if message["type"] == "execution_success":
                    ended.add(message["data"]["prompt_id"])
            return ended

        heard = await asyncio.gather(*(hear_all(n, ws) for n, ws in enumerate(sockets)))
        assert sorted(len(ended) for ended in heard) == [4, 4, 4, 4]
        history = await (await client.get("/history")).json()
        for prompt_id in queued:
            entry = history[prompt_id]
            assert entry["status"]["status_str"] == "success"
            done[prompt_id] = entry["worker"]
            image = entry["outputs"]["9"]["images"][0]
            assert (base / "output" / image["subfolder"] / image["filename"]).is_file()
        assert len(history) == 16 and set(done) == set(queued)
        assert set(done.values()) == {"worker-1", "worker-2"}, done
        listed = {w["id"]: w for w in await workers_now(client)}
        assert set(listed) == {"worker-1", "worker-2"}
        assert all(w["state"] == "ready" and w["device"] == "cpu" and w["pid"] for w in listed.values())
        assert all(w["models"] == ["tiny_a.safetensors"] for w in listed.values())
        for ws in sockets:
            await ws.close()


@ray_test
async def test_a_prompt_goes_to_the_worker_that_holds_its_checkpoint(base, tmp_path, workers):
    async with client_for(base, tmp_path, workers) as client:
        await free_all(client)
        first = await run_one(client, txt2img(2000, "tiny_a.safetensors"))
        holder = first["worker"]
        for seed in range(2001, 2004):  # both workers idle each time: the one holding tiny_a takes it
            assert (await run_one(client, txt2img(seed, "tiny_a.safetensors")))["worker"] == holder
        other = await run_one(client, txt2img(2010, "tiny_b.safetensors"))
        listed = {w["id"]: w["models"] for w in await workers_now(client)}
        assert "tiny_b.safetensors" in listed[other["worker"]]
        for seed in range(2011, 2013):
            for ckpt in ("tiny_a.safetensors", "tiny_b.safetensors"):
                entry = await run_one(client, txt2img(seed, ckpt))
                assert ckpt in listed[entry["worker"]], (ckpt, entry["worker"], listed)


async def _kill_mid_prompt(client: TestClient, seed: int, kill: signal.Signals) -> tuple[dict, str]:
    """Queue a slow prompt, kill (or freeze) its worker's process once it runs; its history and the worker."""
    ws = await client.ws_connect("/ws?clientId=victim")
    queued = await queue_prompt(client, txt2img(seed, slow=2.0), client_id="victim")
    while True:
        message = await ws.receive_json(timeout=120)
        if message["type"] == "executing" and message["data"].get("node") == "20":
            break
    running = [w for w in await workers_now(client) if w["prompt_id"] == queued["prompt_id"]]
    assert len(running) == 1, running
    os.kill(running[0]["pid"], kill)
    try:
        entry = await wait_for_history(client, queued["prompt_id"], timeout=120)
    finally:
        if kill == signal.SIGSTOP:  # killed by then; never leave a frozen process behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(running[0]["pid"], signal.SIGCONT)
    await ws.close()
    return entry, running[0]["id"]


async def _wait_back(client: TestClient, worker: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = {w["id"]: w for w in await workers_now(client)}
        if listed[worker]["state"] == "ready":
            return listed[worker]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{worker} never came back")


@ray_test
async def test_a_worker_killed_mid_prompt_loses_nothing(base, tmp_path, workers):
    async with client_for(base, tmp_path, workers) as client:
        before = {w["id"]: w["pid"] for w in await workers_now(client)}
        entry, killed = await _kill_mid_prompt(client, 3000, signal.SIGKILL)
        assert entry["status"]["status_str"] == "success"
        assert entry["worker"] != killed  # the other worker, idle, took it at once
        notes = [data for kind, data in entry["status"]["messages"] if kind == "worker_lost"]
        assert [note["worker"] for note in notes] == [killed]
        back = await _wait_back(client, killed)  # Ray restarted the actor: it rejoins
        assert back["pid"] != before[killed] and back["lost"] >= 1
        entry = await run_one(client, txt2img(3001))
        assert entry["status"]["status_str"] == "success"
        assert len([pid for pid in (await (await client.get("/history")).json())]) == 2


@ray_test
async def test_a_worker_that_stops_answering_is_restarted_and_its_prompt_runs_elsewhere(base, tmp_path, workers):
    async with client_for(base, tmp_path, workers) as client:
        started = time.monotonic()
        entry, frozen = await _kill_mid_prompt(client, 3100, signal.SIGSTOP)
        assert entry["status"]["status_str"] == "success" and entry["worker"] != frozen
        assert time.monotonic() - started >= WORKER_TIMEOUT_S
        notes = [data for kind, data in entry["status"]["messages"] if kind == "worker_lost"]
        assert len(notes) == 1 and "no answer" in notes[0]["reason"]
        await _wait_back(client, frozen)


def _shape(messages: list[dict]) -> list[tuple]:
    """The events a client sees, without the parts that differ between runs (ids, times)."""
    shape = []
    for m in messages:
        data = m["data"]
        if m["type"] == "status":
            continue
        shape.append((m["type"], data.get("node"), data.get("value"), data.get("max"), tuple(data.get("nodes", ()))))
    return shape


@ray_test
async def test_websocket_events_of_a_remote_prompt_are_those_of_a_local_one(base, tmp_path, workers):
    shapes = []
    for runners in (None, workers):
        folder = tmp_path / ("remote" if runners else "local")
        folder.mkdir()
        async with client_for(base, folder, runners) as client:
            await free_all(client)
            ws = await client.ws_connect("/ws?clientId=same")
            await ws.receive_json()
            queued = await queue_prompt(client, txt2img(4000), client_id="same")
            messages, _ = await collect_until_done(ws, queued["prompt_id"], timeout=120)
            shapes.append(_shape(messages))
            await ws.close()
    local, remote = shapes
    assert remote == local
    kinds = [kind for kind, *_ in remote]
    assert kinds[:2] == ["execution_start", "execution_cached"] and kinds[-2:] == ["execution_success", "executing"]
    assert kinds.count("progress") == 3 and "executed" in kinds


@ray_test
async def test_custom_node_packs_are_loaded_on_each_worker(base, tmp_path, workers, head_nodes):
    async with client_for(base, tmp_path, workers, head_nodes) as client:
        pids = {w["id"]: w["pid"] for w in await workers_now(client)}
        ran = {}
        for tag in range(4):
            entry = await run_one(client, {"1": {"class_type": "WhichProcess", "inputs": {"tag": tag}}})
            assert entry["status"]["status_str"] == "success"
            ran[entry["worker"]] = entry["outputs"]["1"]["pid"][0]
        assert ran and all(pids[worker] == pid != os.getpid() for worker, pid in ran.items())
