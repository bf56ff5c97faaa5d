"""A damaged queue database never stops the start nor hides what is still readable, a
prompt that keeps killing the server is not run forever, and POST /queue can cancel the
running prompt."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
from pathlib import Path

import pytest

from executor.prompt_queue import PromptQueue
from executor.queue_store import DatabaseUnusable, QueueItem, QueueStore
from tests.server_support import (
    GATE,
    GATE_ENTERED,
    async_test,
    gated_workflow,
    make_client,
    queue_prompt,
    sink_workflow,
    wait_for_history,
)

HISTORY_N = 40


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "user" / "studio.sqlite3"


def finished_entry(item: QueueItem) -> dict:
    """A history entry big enough (~2 KB) that the history spans many pages."""
    return {"prompt": item.as_list(), "outputs": {"3": {"value": [item.number]}},
            "status": {"status_str": "success", "completed": True, "messages": []}, "pad": "x" * 2000}


def filled_database(path: Path) -> list[str]:
    """One pending prompt, then HISTORY_N finished ones; returns the history's ids."""
    store = QueueStore(path)
    store.add(QueueItem(0, "pending", sink_workflow(5), {}, ["3"]), 1)
    ids = []
    for i in range(1, HISTORY_N + 1):
        item = QueueItem(i, f"h{i}", sink_workflow(i), {}, ["3"])
        store.add(item, i + 1)
        store.finish(item.prompt_id, finished_entry(item))
        ids.append(item.prompt_id)
    store.close()
    assert not Path(f"{path}-wal").exists()  # all of it is in the main file
    return ids


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


def recovery_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "moved to" in r.getMessage()]


def test_a_truncated_database_is_set_aside_and_its_readable_rows_kept(tmp_path, caplog):
    path = db_path(tmp_path)
    ids = filled_database(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    store = QueueStore(path)
    history = store.history()
    assert HISTORY_N // 4 <= len(history) < HISTORY_N
    assert list(history) == ids[: len(history)]  # the oldest pages survived, in order
    assert history["h1"]["outputs"] == {"3": {"value": [1]}}
    assert [item.prompt_id for item in store.load_queue()] == ["pending"]
    store.finish("new", {"prompt": [], "outputs": {}, "status": {}})  # the new file takes writes
    assert "new" in store.history()
    store.close()
    (aside,) = set_aside(path)
    assert aside.read_bytes() == data[: len(data) * 6 // 10]  # kept exactly as found
    (warning,) = recovery_warnings(caplog)
    assert str(path) in warning and str(aside) in warning
    lost = HISTORY_N - len(history)  # the prompt-id index still names the rows on the missing pages
    assert f"1 queued prompts and {len(history)} history entries recovered, {lost} rows lost" in warning


@async_test
async def test_a_damaged_last_page_is_recovered_and_new_results_are_recorded(tmp_path, caplog):
    path = db_path(tmp_path)
    ids = filled_database(path)
    with open(path, "r+b") as handle:
        handle.seek(-4096, 2)
        handle.write(random.Random(3).randbytes(4096))
    async with make_client(tmp_path) as client:
        history = [p for p in await (await client.get("/history")).json() if p != "pending"]  # it may have run
        assert len(history) >= HISTORY_N - 2 and set(history) <= set(ids)
        await wait_for_history(client, "pending")
        later = await queue_prompt(client, sink_workflow(9))
        assert (await wait_for_history(client, later["prompt_id"]))["outputs"] == {"3": {"value": [10]}}
    assert len(set_aside(path)) == 1 and len(recovery_warnings(caplog)) == 1


def test_a_garbage_header_is_rebuilt_and_every_row_recovered(tmp_path, caplog):
    path = db_path(tmp_path)
    ids = filled_database(path)
    garbage = random.Random(7).randbytes(100)
    with open(path, "r+b") as handle:
        handle.write(garbage)
    store = QueueStore(path)
    assert list(store.history()) == ids
    (item,) = store.load_queue()
    assert item.prompt_id == "pending" and item.prompt == sink_workflow(5)
    assert store.next_number() == HISTORY_N + 1
    store.close()
    (aside,) = set_aside(path)
    assert aside.read_bytes()[:100] == garbage
    (warning,) = recovery_warnings(caplog)
    assert f"1 queued prompts and {HISTORY_N} history entries recovered, 0 rows lost" in warning


@async_test
async def test_a_bad_history_row_is_skipped_and_the_history_still_answers(tmp_path, caplog):
    path = db_path(tmp_path)
    store = QueueStore(path)
    for i in range(3):
        item = QueueItem(i, f"p{i}", sink_workflow(i), {}, ["3"])
        store.add(item, i + 1)
        store.finish(item.prompt_id, finished_entry(item))
    store._conn.execute("UPDATE history SET entry = '{not json' WHERE prompt_id = 'p1'")
    store._conn.commit()
    store.close()
    async with make_client(tmp_path, start_worker=False) as client:
        for _ in range(2):
            response = await client.get("/history")
            assert response.status == 200
            assert list(await response.json()) == ["p0", "p2"]
        response = await client.get("/history/p1")
        assert response.status == 200 and await response.json() == {}
        assert "p2" in await (await client.get("/history/p2")).json()
    skipped = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(skipped) == 1 and "'p1'" in skipped[0] and "history" in skipped[0]
    assert set_aside(path) == []  # one bad row is not a damaged file


@async_test
async def test_bad_queue_rows_are_skipped_and_the_others_run(tmp_path, caplog):
    path = db_path(tmp_path)
    store = QueueStore(path)
    for i, prompt_id in enumerate(["good1", "bad-json", "bad-shape", "good2"]):
        store.add(QueueItem(i, prompt_id, sink_workflow(i), {}, ["3"]), i + 1)
    store._conn.execute("UPDATE queue SET item = 'oops' WHERE prompt_id = 'bad-json'")
    store._conn.execute("UPDATE queue SET item = '[1, 2]' WHERE prompt_id = 'bad-shape'")
    store._conn.commit()
    store.close()
    async with make_client(tmp_path) as client:
        assert (await wait_for_history(client, "good1"))["outputs"] == {"3": {"value": [1]}}
        assert (await wait_for_history(client, "good2"))["outputs"] == {"3": {"value": [4]}}
        assert list(await (await client.get("/history")).json()) == ["good1", "good2"]
        assert (await (await client.get("/queue")).json())["queue_pending"] == []
    skipped = " ".join(r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage())
    assert "'bad-json'" in skipped and "'bad-shape'" in skipped
    store = QueueStore(path)  # still there for whoever repairs them
    assert store.knows("bad-json") and store.knows("bad-shape")
    store.close()


@async_test
async def test_a_queue_counter_that_is_not_a_number_is_taken_from_the_queue(tmp_path, caplog):
    path = db_path(tmp_path)
    store = QueueStore(path)
    store.add(QueueItem(6, "six", sink_workflow(6), {}, ["3"]), 7)
    store._conn.execute("UPDATE meta SET value = 'abc' WHERE key = 'next_number'")
    store._conn.commit()
    assert store.next_number() == 0
    store.close()
    assert any("'abc'" in r.getMessage() for r in caplog.records)
    async with make_client(tmp_path, start_worker=False) as client:
        assert (await queue_prompt(client, sink_workflow(1)))["number"] == 7


@async_test
async def test_an_old_schema_without_running_and_attempts_is_migrated(tmp_path):
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id TEXT NOT NULL UNIQUE,
                            number REAL NOT NULL, item TEXT NOT NULL);
        CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id TEXT NOT NULL UNIQUE,
                              entry TEXT NOT NULL);
    """)
    item = QueueItem(0, "old", sink_workflow(2), {}, ["3"])
    conn.execute("INSERT INTO queue (prompt_id, number, item) VALUES ('old', 0, ?)", (json.dumps(item.as_list()),))
    conn.commit()
    conn.close()
    async with make_client(tmp_path) as client:
        assert (await wait_for_history(client, "old"))["outputs"] == {"3": {"value": [3]}}
    assert set_aside(path) == []
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(queue)")]
    assert columns[-2:] == ["running", "attempts"]


def test_a_foreign_schema_is_set_aside_keeping_what_fits(tmp_path, caplog):
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    item = QueueItem(0, "q", sink_workflow(2), {}, ["3"])
    conn.executescript("""
        CREATE TABLE queue (seq INTEGER PRIMARY KEY, prompt_id TEXT, number REAL, item TEXT, owner TEXT NOT NULL);
        CREATE TABLE history (id INTEGER PRIMARY KEY, data TEXT);
        INSERT INTO history (data) VALUES ('a'), ('b');
    """)
    conn.execute("INSERT INTO queue VALUES (1, 'q', 0, ?, 'me')", (json.dumps(item.as_list()),))
    conn.commit()
    conn.close()
    store = QueueStore(path)
    assert [i.prompt_id for i in store.load_queue()] == ["q"] and store.history() == {}
    store.close()
    assert len(set_aside(path)) == 1
    (warning,) = recovery_warnings(caplog)
    assert "1 queued prompts and 0 history entries recovered, 2 rows lost" in warning


def test_a_folder_at_the_database_path_is_a_clear_error(tmp_path):
    path = db_path(tmp_path)
    path.mkdir(parents=True)
    (path / "keep.txt").write_text("mine")
    with pytest.raises(DatabaseUnusable) as caught:
        make_client(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, SystemExit)  # the start ends with this line and status 1
    assert str(path) in message and "folder" in message and "\n" not in message
    assert (path / "keep.txt").read_text() == "mine" and set_aside(path) == []


def test_an_empty_file_is_a_new_database_with_a_warning(tmp_path, caplog):
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    store = QueueStore(path)
    assert store.history() == {} and store.load_queue() == []
    store.close()
    assert any(str(path) in r.getMessage() and "0-byte" in r.getMessage() for r in caplog.records)
    assert set_aside(path) == []


def crash_while_running(path: Path, prompt_id: str) -> None:
    """What a kill -9 leaves: the worker's mark and attempt written, nothing finished."""
    store = QueueStore(path)
    store.mark_running(prompt_id)
    store.close()


@async_test
async def test_a_prompt_that_kills_the_server_twice_is_not_run_a_third_time(tmp_path):
    path = db_path(tmp_path)
    store = QueueStore(path)
    store.add(QueueItem(0, "killer", sink_workflow(1), {}, ["3"]), 1)
    store.add(QueueItem(1, "waiting", sink_workflow(2), {}, ["3"]), 2)
    store.close()
    crash_while_running(path, "killer")
    async with make_client(tmp_path, start_worker=False) as client:  # the first crash: queued again
        assert [p[1] for p in (await (await client.get("/queue")).json())["queue_pending"]] == ["killer", "waiting"]
    crash_while_running(path, "killer")
    async with make_client(tmp_path) as client:
        entry = await wait_for_history(client, "killer")
        assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
        assert entry["outputs"] == {}
        error = dict(entry["status"]["messages"])["execution_error"]
        assert "stopped while running this prompt 2 times; it was not started again" in error["exception_message"]
        assert (await wait_for_history(client, "waiting"))["status"]["status_str"] == "success"
        assert list(await (await client.get("/history")).json()) == ["killer", "waiting"]


def test_crash_retries_zero_gives_up_at_once_and_pending_prompts_are_untouched(tmp_path):
    path = db_path(tmp_path)
    store = QueueStore(path)
    store.add(QueueItem(0, "crashed", sink_workflow(1), {}, ["3"]), 1)
    store.add(QueueItem(1, "pending", sink_workflow(2), {}, ["3"]), 2)
    store.mark_running("crashed")
    queue = PromptQueue(executor=None, store=store, crash_retries=0)
    assert [row[1] for row in queue.snapshot()[1]] == ["pending"]
    assert "1 time;" in str(store.history_entry("crashed")["status"]["messages"])
    assert [(i.prompt_id, i.was_running) for i in store.load_queue()] == [("pending", False)]
    store.close()


@async_test
async def test_a_clean_shutdown_does_not_count_as_an_attempt(tmp_path):
    GATE.clear()
    GATE_ENTERED.clear()
    try:
        async with make_client(tmp_path) as client:
            running = await queue_prompt(client, gated_workflow(tag=2))
            for _ in range(300):
                if GATE_ENTERED.is_set():
                    break
                await asyncio.sleep(0.01)
            assert GATE_ENTERED.is_set()
        store = QueueStore(db_path(tmp_path))
        (item,) = store.load_queue()
        assert item.prompt_id == running["prompt_id"] and (item.attempts, item.was_running) == (0, False)
        store.close()
    finally:
        GATE.set()


@async_test
async def test_deleting_the_running_prompt_interrupts_it(tmp_path):
    GATE.clear()
    GATE_ENTERED.clear()
    try:
        async with make_client(tmp_path) as client:
            running = (await queue_prompt(client, gated_workflow(tag=3)))["prompt_id"]
            dropped = (await queue_prompt(client, sink_workflow(4)))["prompt_id"]
            for _ in range(300):
                if GATE_ENTERED.is_set():
                    break
                await asyncio.sleep(0.01)
            assert GATE_ENTERED.is_set()
            response = await client.post("/queue", json={"delete": [running, dropped]})
            assert response.status == 200
            entry = await wait_for_history(client, running, timeout=5)
            assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
            assert "execution_interrupted" in [kind for kind, _ in entry["status"]["messages"]]
            later = (await queue_prompt(client, sink_workflow(8)))["prompt_id"]
            assert (await wait_for_history(client, later))["outputs"] == {"3": {"value": [9]}}
            assert list(await (await client.get("/history")).json()) == [running, later]  # the pending one went
    finally:
        GATE.set()
