"""The queue over HTTP and WebSocket: restarts and crashes lose nothing, a burst of
prompts from many clients all completes, and each client hears only its own prompts."""
from __future__ import annotations

import asyncio
import json

from executor.queue_store import QueueItem, QueueStore
from tests.server_support import (
    GATE,
    GATE_ENTERED,
    async_test,
    collect_until_done,
    drain,
    gated_workflow,
    make_client,
    queue_prompt,
    sink_workflow,
    wait_for_history,
)


@async_test
async def test_restart_runs_prompts_left_in_the_queue(tmp_path):
    async with make_client(tmp_path, start_worker=False) as client:
        ids = [(await queue_prompt(client, sink_workflow(i)))["prompt_id"] for i in range(3)]
        first = await queue_prompt(client, sink_workflow(7), front=True)
        assert (await (await client.get("/prompt")).json())["exec_info"]["queue_remaining"] == 4
    async with make_client(tmp_path) as client:
        for prompt_id in ids:
            await wait_for_history(client, prompt_id)
        order = list(await (await client.get("/history")).json())
        assert order == [first["prompt_id"], *ids]
        history = await (await client.get("/history")).json()
        assert [history[p]["outputs"]["3"]["value"][0] for p in order] == [8, 1, 2, 3]
        later = await queue_prompt(client, sink_workflow(50))
        assert later["number"] == 4  # numbering goes on where it stopped


@async_test
async def test_crash_mid_prompt_requeues_the_running_entry(tmp_path):
    store = QueueStore(tmp_path / "user" / "studio.sqlite3")
    crashed = QueueItem(0, "was-running", sink_workflow(1), {"client_id": "c"}, ["3"])
    waiting = QueueItem(1, "was-pending", sink_workflow(2), {}, ["3"])
    store.add(crashed, 1)
    store.add(waiting, 2)
    store.mark_running("was-running")  # ... and the process dies here, never finishing it
    store.close()
    async with make_client(tmp_path) as client:
        done = await wait_for_history(client, "was-running")
        assert done["status"]["status_str"] == "success" and done["outputs"] == {"3": {"value": [2]}}
        await wait_for_history(client, "was-pending")
        assert list(await (await client.get("/history")).json()) == ["was-running", "was-pending"]
        assert (await (await client.get("/queue")).json())["queue_pending"] == []


@async_test
async def test_shutdown_mid_prompt_keeps_it_queued_for_the_next_start(tmp_path):
    GATE.clear()
    GATE_ENTERED.clear()
    try:
        async with make_client(tmp_path) as client:
            running = await queue_prompt(client, gated_workflow(tag=1))
            pending = await queue_prompt(client, sink_workflow(4))
            for _ in range(500):
                if GATE_ENTERED.is_set():
                    break
                await asyncio.sleep(0.01)
            assert GATE_ENTERED.is_set()
        # the server stopped while the gate node waited: nothing went to the history
        store = QueueStore(tmp_path / "user" / "studio.sqlite3")
        assert store.history() == {}
        assert [item.prompt_id for item in store.load_queue()] == [running["prompt_id"], pending["prompt_id"]]
        store.close()
        GATE.set()
        async with make_client(tmp_path) as client:
            entry = await wait_for_history(client, running["prompt_id"])
            assert entry["status"]["status_str"] == "success"
            await wait_for_history(client, pending["prompt_id"])
    finally:
        GATE.set()


@async_test
async def test_events_go_only_to_the_queuing_client(tmp_path):
    async with make_client(tmp_path) as client:
        mine = await client.ws_connect("/ws?clientId=mine")
        other = await client.ws_connect("/ws")
        hello = (await other.receive_json())["data"]
        assert hello["sid"] and hello["sid"] != "mine"
        assert (await mine.receive_json())["data"]["sid"] == "mine"
        queued = await queue_prompt(client, sink_workflow(3), client_id="mine")
        messages, _ = await collect_until_done(mine, queued["prompt_id"])
        kinds = [m["type"] for m in messages if m["type"] != "status"]
        assert kinds == [
            "execution_start", "execution_cached", "executing", "executing", "executing", "executed",
            "execution_success", "executing",
        ]
        await asyncio.sleep(0.1)
        seen = [json.loads(m.data) for m in await drain(other)]
        assert seen and all(m["type"] == "status" for m in seen)  # queue changes reach everyone
        await mine.close()
        await other.close()


@async_test
async def test_burst_of_200_prompts_from_20_clients(tmp_path):
    clients_n, per_client = 20, 10
    async with make_client(tmp_path) as client:
        sockets = [await client.ws_connect(f"/ws?clientId=c{i}") for i in range(clients_n)]

        async def send_all(i: int) -> list[str]:
            ids = []
            for j in range(per_client):
                value = i * 1000 + j
                ids.append((await queue_prompt(client, sink_workflow(value), client_id=f"c{i}"))["prompt_id"])
            return ids

        per_sender = await asyncio.gather(*(send_all(i) for i in range(clients_n)))

        async def successes(i: int) -> set[str]:
            got: set[str] = set()
            while len(got) < per_client:
                message = await sockets[i].receive_json(timeout=30)
                if message["type"] == "execution_success":
                    got.add(message["data"]["prompt_id"])
            return got

        heard = await asyncio.gather(*(successes(i) for i in range(clients_n)))
        for i in range(clients_n):
            assert heard[i] == set(per_sender[i])
        history = await (await client.get("/history")).json()
        assert len(history) == clients_n * per_client
        assert all(entry["status"]["status_str"] == "success" for entry in history.values())
        for i, ids in enumerate(per_sender):
            for j, prompt_id in enumerate(ids):
                assert history[prompt_id]["outputs"]["3"]["value"] == [i * 1000 + j + 1]
        assert (await (await client.get("/queue")).json()) == {"queue_running": [], "queue_pending": []}
        for ws in sockets:
            await ws.close()


def test_store_keeps_the_newest_history_and_survives_reopening(tmp_path):
    path = tmp_path / "q.sqlite3"
    store = QueueStore(path, history_limit=3)
    for i in range(5):
        item = QueueItem(i, f"p{i}", sink_workflow(i), {}, ["3"])
        store.add(item, i + 1)
        store.finish(item.prompt_id, {"prompt": item.as_list(), "outputs": {}, "status": {}})
    assert list(store.history()) == ["p2", "p3", "p4"]
    assert list(store.history(max_items=2)) == ["p3", "p4"]
    store.close()
    again = QueueStore(path)
    assert again.next_number() == 5 and again.load_queue() == []
    assert again.knows("p4") and not again.knows("p0")
    assert again._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


class _StuckSocket:
    """A WebSocket whose peer never reads: every send waits forever."""

    closed = False

    async def send_str(self, text):
        await asyncio.Event().wait()

    send_bytes = send_str

    async def close(self, **_):
        self.closed = True


@async_test
async def test_a_client_that_never_reads_is_dropped_without_holding_up_others():
    from server.clients import ClientRegistry

    registry = ClientRegistry(backlog=3, preview_backlog=1)
    stuck, fine = _StuckSocket(), _StuckSocket()
    registry.add("stuck", stuck)
    registry.add("fine", fine)
    for i in range(5):
        registry.publish_text(f"m{i}", "stuck")
        registry.publish_bytes(b"frame", "stuck")
    await asyncio.sleep(0.01)
    assert "stuck" not in registry and "fine" in registry and stuck.closed
    await registry.close_all()


def test_preview_throttle():
    from server.previews import PreviewThrottle

    now = [0.0]
    throttle = PreviewThrottle(0.1, clock=lambda: now[0])
    assert throttle.allow("a") and not throttle.allow("a") and throttle.allow("b")
    now[0] = 0.05
    assert not throttle.allow("a")
    now[0] = 0.11
    assert throttle.allow("a")


@async_test
async def test_queue_numbers_out_of_range_are_refused_and_old_ones_do_not_stop_a_start(tmp_path):
    async with make_client(tmp_path, start_worker=False) as client:
        for bad in ("1e999", "-1e999", "9223372036854775808", "1e308", "NaN"):
            body = '{"prompt": %s, "number": %s}' % (json.dumps(sink_workflow(1)), bad)
            response = await client.post("/prompt", data=body, headers={"Content-Type": "application/json"})
            assert response.status == 400, bad
            message = (await response.json())["error"]["message"]
            assert "'number' must be a finite number" in message or "not valid JSON" in message, message
        assert (await queue_prompt(client, sink_workflow(2), number=2 ** 53))["number"] == 2 ** 53
        text = await (await client.get("/queue")).text()
        assert "Infinity" not in text and "NaN" not in text
    # A row an older version let in (an infinite number, a counter past SQLite's integers).
    store = QueueStore(tmp_path / "user" / "studio.sqlite3")
    store.add(QueueItem(float("inf"), "infinite", sink_workflow(3), {}, ["3"]), 5)
    store.close()
    async with make_client(tmp_path) as client:
        done = await wait_for_history(client, "infinite")
        assert done["status"]["status_str"] == "success"
        later = await queue_prompt(client, sink_workflow(4))
        await wait_for_history(client, later["prompt_id"])
        assert "Infinity" not in await (await client.get("/history")).text()
