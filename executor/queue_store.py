"""SQLite persistence of the prompt queue and the history, so a restart loses nothing.

Every queued prompt is written before POST /prompt answers, marked running when the
worker takes it, and moved to the history in one transaction when it ends. A process
that dies mid-prompt leaves its entry in the queue table; the next start queues it
again. WAL mode with synchronous=NORMAL survives a crash of the process (not
necessarily a power cut, which may lose the last few transactions).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

Number = Union[int, float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    item TEXT NOT NULL,
    running INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def _number(value: float) -> Number:
    """Numbers come back as ints when they are whole, as ComfyUI's counter gives them."""
    return int(value) if float(value).is_integer() else float(value)


@dataclass
class QueueItem:
    """One queued prompt; `as_list` is ComfyUI's `[number, prompt_id, prompt, extra_data, outputs]`."""

    number: Number
    prompt_id: str
    prompt: dict
    extra_data: dict = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    seq: int = 0  # insertion order, the tie-break between equal numbers

    @property
    def client_id(self) -> Optional[str]:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) else None

    @property
    def sort_key(self) -> tuple[float, int]:
        return (float(self.number), self.seq)

    def as_list(self) -> list:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


class QueueStore:
    """The queue and history tables behind one connection, shared by the event-loop
    thread (enqueue, reads) and the worker thread (start, finish) under a lock."""

    def __init__(self, path: Union[str, Path], history_limit: int = 10_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.history_limit = history_limit
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- queue -------------------------------------------------------------------------

    def add(self, item: QueueItem, next_number: int) -> int:
        """Persist a queued prompt and the queue's counter together; returns the
        insertion sequence number."""
        text = json.dumps(item.as_list())
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO queue (prompt_id, number, item) VALUES (?, ?, ?)",
                (item.prompt_id, float(item.number), text),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_number', ?)", (int(next_number),)
            )
            return int(cursor.lastrowid)

    def mark_running(self, prompt_id: str, running: bool = True) -> None:
        with self._lock, self._conn:
            self._conn.execute("UPDATE queue SET running = ? WHERE prompt_id = ?", (int(running), prompt_id))

    def load_queue(self) -> list[QueueItem]:
        """Everything still queued (pending, or running when the last process stopped),
        in run order; running marks are cleared since nothing runs yet."""
        with self._lock, self._conn:
            self._conn.execute("UPDATE queue SET running = 0 WHERE running != 0")
            rows = self._conn.execute("SELECT seq, item FROM queue ORDER BY number, seq").fetchall()
        items = []
        for seq, text in rows:
            number, prompt_id, prompt, extra, outputs = json.loads(text)
            items.append(QueueItem(_number(number), prompt_id, prompt, extra, outputs, seq))
        return items

    def remove(self, prompt_ids: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM queue WHERE prompt_id = ?", [(p,) for p in prompt_ids])

    def next_number(self) -> int:
        """The queue's counter as last saved (0 for a new database)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'next_number'").fetchone()
        return int(row[0]) if row else 0

    def knows(self, prompt_id: str) -> bool:
        """Whether a prompt id is taken, in the queue or in the history."""
        with self._lock:
            for table in ("queue", "history"):
                if self._conn.execute(f"SELECT 1 FROM {table} WHERE prompt_id = ?", (prompt_id,)).fetchone():
                    return True
        return False

    # -- history -----------------------------------------------------------------------

    def finish(self, prompt_id: str, entry: dict) -> None:
        """Move a prompt from the queue to the history, atomically; trims old history."""
        text = json.dumps(entry, default=str)
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM queue WHERE prompt_id = ?", (prompt_id,))
            self._conn.execute("DELETE FROM history WHERE prompt_id = ?", (prompt_id,))
            self._conn.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?)", (prompt_id, text))
            self._conn.execute(
                "DELETE FROM history WHERE seq <= (SELECT seq FROM history ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (self.history_limit,),
            )

    def history(self, max_items: Optional[int] = None, offset: int = 0) -> dict[str, dict]:
        """Oldest first, like ComfyUI; `max_items` keeps the newest ones."""
        query = "SELECT prompt_id, entry FROM history ORDER BY seq DESC"
        params: tuple[Any, ...] = ()
        if max_items is not None or offset:
            query += " LIMIT ? OFFSET ?"
            params = (-1 if max_items is None else max_items, offset)
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return {prompt_id: json.loads(text) for prompt_id, text in reversed(rows)}

    def history_entry(self, prompt_id: str) -> Optional[dict]:
        with self._lock:
            row = self._conn.execute("SELECT entry FROM history WHERE prompt_id = ?", (prompt_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete_history(self, prompt_ids: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM history WHERE prompt_id = ?", [(p,) for p in prompt_ids])

    def clear_history(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM history")
