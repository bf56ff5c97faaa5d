"""Which output files each queued prompt has written, kept until the prompt's history entry.

A prompt re-run after a crash asks here first and writes the same files again instead of
adding a second copy under the next counter: a prompt's outputs exist at most once.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Optional, Union

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS output_files (
    prompt_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (prompt_id, node_id, idx)
);
"""


class OutputLedger:
    """The record, in its own SQLite file beside the queue database."""

    def __init__(self, path: Union[str, Path]) -> None:
        self._lock = threading.Lock()
        self._conn = _open(Path(path))

    def for_prompt(self, prompt_id: str) -> "PromptOutputs":
        return PromptOutputs(self, prompt_id)

    def forget(self, prompt_id: str) -> None:
        """The prompt is in the history now: its files are final."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM output_files WHERE prompt_id = ?", (prompt_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _previous(self, prompt_id: str, node_id: str, index: int) -> Optional[str]:
        with self._lock:
            row = self._conn.execute("SELECT path FROM output_files WHERE prompt_id = ? AND node_id = ? AND idx = ?",
                                     (prompt_id, node_id, index)).fetchone()
        return row[0] if row else None

    def _record(self, prompt_id: str, node_id: str, index: int, path: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO output_files VALUES (?, ?, ?, ?)",
                               (prompt_id, node_id, index, path))


def _open(path: Path) -> sqlite3.Connection:
    """The ledger only ever matters for the prompt running at a crash: a damaged file is set
    aside and a new one started; an unusable path falls back to memory, with a warning."""
    try:
        return _connect(str(path))
    except sqlite3.DatabaseError as exc:
        if path.is_file():
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("output ledger %s is unreadable (%s); kept as %s, starting a new one", path, exc, aside)
            os.replace(path, aside)
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            return _connect(str(path))
        log.warning("output ledger %s cannot be opened (%s); this run keeps it in memory", path, exc)
        return _connect(":memory:")


def _connect(name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(name, check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        conn.execute("SELECT count(*) FROM output_files").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


class PromptOutputs:
    """One prompt's view, handed to its nodes: `previous` before writing, `record` once named."""

    def __init__(self, ledger: OutputLedger, prompt_id: str) -> None:
        self._ledger = ledger
        self.prompt_id = prompt_id

    def previous(self, node_id: str, index: int) -> Optional[str]:
        return self._ledger._previous(self.prompt_id, node_id, index)

    def record(self, node_id: str, index: int, path: str) -> None:
        self._ledger._record(self.prompt_id, node_id, index, path)
