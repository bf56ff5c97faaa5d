"""SQLite persistence of the prompt queue and the history, so a restart loses nothing.

Every queued prompt is written before POST /prompt answers, marked running when the
worker takes it, and moved to the history in one transaction when it ends. A process
that dies mid-prompt leaves its entry in the queue table; the next start queues it
again, up to a limit (see PromptQueue). WAL mode with synchronous=NORMAL survives a
crash of the process (not necessarily a power cut, which may lose the last few
transactions). A damaged file is set aside and its readable rows carried over at start
(queue_recovery); a single row that does not parse is skipped with a warning, never
hiding the others.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from .json_pieces import dumps_in_pieces
from .queue_recovery import SCHEMA, DatabaseUnusable, UnreadableRow, open_database, parse_entry, parse_item

__all__ = ["SCHEMA", "DatabaseUnusable", "Number", "QueueItem", "QueueStore"]

log = logging.getLogger(__name__)
Number = Union[int, float]
# (database, table, seq) of rows already reported unreadable: one warning per row per process
_REPORTED: set[tuple[str, str, int]] = set()


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
    attempts: int = 0  # times the worker has started it
    was_running: bool = False  # running when the last process stopped: it crashed

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
        """Open (checking it, and recovering a damaged file); raises DatabaseUnusable."""
        self.path = Path(path)
        self.history_limit = history_limit
        self._lock = threading.Lock()
        self._conn = open_database(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- queue -------------------------------------------------------------------------

    def add(self, item: QueueItem, next_number: int) -> int:
        """Persist a queued prompt and the queue's counter together; returns the
        insertion sequence number."""
        text = dumps_in_pieces(item.as_list())  # a huge prompt must not stall the server
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO queue (prompt_id, number, item) VALUES (?, ?, ?)",
                (item.prompt_id, float(item.number), text),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_number', ?)", (int(next_number),)
            )
            return int(cursor.lastrowid)

    def mark_running(self, prompt_id: str) -> None:
        """The worker took it: counted as an attempt before it runs, so a prompt that
        kills the process is known at the next start."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE queue SET running = 1, attempts = attempts + 1 WHERE prompt_id = ?", (prompt_id,)
            )

    def release(self, prompt_id: str) -> None:
        """A clean shutdown stopped it: queued again, and this start is not counted."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE queue SET running = 0, attempts = MAX(attempts - 1, 0) WHERE prompt_id = ?", (prompt_id,)
            )

    def load_queue(self) -> list[QueueItem]:
        """Everything still queued (pending, or running when the last process stopped:
        `was_running`), in run order. A row that does not parse stays in the table,
        reported and skipped."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, prompt_id, item, running, attempts FROM queue ORDER BY number, seq"
            ).fetchall()
        items = []
        for seq, row_id, text, running, attempts in rows:
            try:
                number, prompt_id, prompt, extra, outputs = parse_item(text)
            except UnreadableRow as exc:
                self._report("queue", seq, row_id, exc)
                continue
            attempts = attempts if isinstance(attempts, int) and attempts > 0 else 0
            items.append(QueueItem(_number(number), prompt_id, prompt, extra, outputs, seq,
                                   attempts=attempts, was_running=bool(running)))
        return items

    def clear_running(self) -> None:
        """Nothing runs before the worker starts: running marks left by a crash go."""
        with self._lock, self._conn:
            self._conn.execute("UPDATE queue SET running = 0 WHERE running != 0")

    def remove(self, prompt_ids: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM queue WHERE prompt_id = ?", [(p,) for p in prompt_ids])

    def next_number(self) -> int:
        """The queue's counter as last saved (0 for a new database, or one that is not
        a whole number: the queue derives it from the queued rows then)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'next_number'").fetchone()
        if row is None:
            return 0
        value = row[0]
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        log.warning("%s: the saved queue counter %r is not a whole number; it is taken from the queue instead",
                    self.path, value)
        return 0

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
        text = dumps_in_pieces(entry, default=str)
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
        query = "SELECT seq, prompt_id, entry FROM history ORDER BY seq DESC"
        params: tuple[Any, ...] = ()
        if max_items is not None or offset:
            query += " LIMIT ? OFFSET ?"
            params = (-1 if max_items is None else max_items, offset)
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        history = {}
        for seq, prompt_id, text in reversed(rows):
            if not isinstance(prompt_id, str):
                self._report("history", seq, prompt_id, UnreadableRow("its prompt id is not text"))
                continue
            entry = self._entry(seq, prompt_id, text)
            if entry is not None:
                history[prompt_id] = entry
        return history

    def history_entry(self, prompt_id: str) -> Optional[dict]:
        """One finished prompt; None when unknown or unreadable."""
        with self._lock:
            row = self._conn.execute("SELECT seq, entry FROM history WHERE prompt_id = ?", (prompt_id,)).fetchone()
        return self._entry(row[0], prompt_id, row[1]) if row else None

    def _entry(self, seq: int, prompt_id: Any, text: Any) -> Optional[dict]:
        try:
            return parse_entry(text)
        except UnreadableRow as exc:
            self._report("history", seq, prompt_id, exc)
            return None

    def _report(self, table: str, seq: int, prompt_id: Any, problem: Exception) -> None:
        """One warning per unreadable row; the row stays in the file for whoever repairs it."""
        key = (str(self.path), table, seq)
        if key not in _REPORTED:
            _REPORTED.add(key)
            log.warning("%s: the %s row seq=%d (prompt %r) cannot be read and is skipped: %s",
                        self.path, table, seq, prompt_id, problem)

    def delete_history(self, prompt_ids: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM history WHERE prompt_id = ?", [(p,) for p in prompt_ids])

    def clear_history(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM history")
