"""The server's recent log lines, kept in memory for the frontend's log panel
(GET /internal/logs) and streamed as `logs` WebSocket messages to clients that asked.

Entries are ComfyUI's shape, {"t": ISO time, "m": the formatted line with its newline}.
"""
from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from datetime import datetime
from typing import Callable, Optional

CAPACITY = 300
Sink = Callable[[str, dict, Optional[str]], None]  # (kind, data, client id), as EventBridge takes


class LogBuffer(logging.Handler):
    """A logging handler that remembers the last CAPACITY lines and tells subscribers."""

    def __init__(self, capacity: int = CAPACITY, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.entries: deque[dict] = deque(maxlen=capacity)
        self.subscribers: set[str] = set()
        self.sink: Optional[Sink] = None
        self._sending = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._sending, "active", False):
            return  # a line logged while a line is being sent
        try:
            entry = {"t": datetime.fromtimestamp(record.created).isoformat(), "m": self.format(record) + "\n"}
        except Exception:
            self.handleError(record)
            return
        self.entries.append(entry)  # handle() holds self.lock around emit()
        sink = self.sink
        if sink is None or not self.subscribers:
            return
        self._sending.active = True
        try:
            message = {"entries": [entry], "size": terminal_size()}
            for client_id in list(self.subscribers):
                sink("logs", message, client_id)
        finally:
            self._sending.active = False

    def recent(self) -> list[dict]:
        with self.lock:
            return list(self.entries)

    def text(self) -> str:
        return "".join(f"{e['t']} - {e['m']}" for e in self.recent())

    def subscribe(self, client_id: str, enabled: bool) -> None:
        """Stream lines to a WebSocket client; it is dropped again when it disconnects."""
        (self.subscribers.add if enabled else self.subscribers.discard)(client_id)


def terminal_size() -> dict:
    size = shutil.get_terminal_size((80, 24))
    return {"cols": size.columns, "rows": size.lines}
