"""Holding off Python's full garbage collections while a huge prompt is read and checked.

Building a 100,000-node prompt creates millions of objects; each time the heap grows by a
quarter Python scans all of it, 100-300 ms during which no thread (the event loop
included) runs. Nothing it builds is cyclic garbage, so collection simply waits until the
prompt is queued. Requests overlap: the pause lasts while any of them needs it.
"""
from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_holders = 0
_was_enabled = True


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
