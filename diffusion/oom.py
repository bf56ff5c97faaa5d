"""Out of memory inside a node: free what can be freed, try once more with a smaller
footprint (models streamed in halves of the free memory, VAE work in tiles), and otherwise
fail with a message that says how much memory was wanted."""
from __future__ import annotations

import contextlib
import gc
import logging
import re
import threading
from typing import Callable, Iterator, TypeVar

import torch

from .memory_manager import MANAGER, VRAMPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
_state = threading.local()


class OutOfMemory(RuntimeError):
    """A node ran out of memory twice: once as asked, once with the smaller footprint."""


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def wanted(exc: BaseException) -> str:
    """The allocation an out-of-memory error names ("2.00 GiB"), or "" when it names none."""
    m = re.search(r"tried to allocate ([\d.]+ ?[KMGT]i?B)", str(exc), re.IGNORECASE)
    return m.group(1) if m else ""


def free_what_can_be_freed() -> None:
    """Every idle model back to CPU memory, Python's garbage collected, CUDA's cache emptied."""
    MANAGER.unload_all()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def small_footprint() -> bool:
    """Whether work runs in its smaller form now (VAE decodes and encodes in tiles)."""
    return bool(getattr(_state, "small", False))


@contextlib.contextmanager
def smaller_footprint() -> Iterator[None]:
    """Inside: models get half the free memory for weights (streaming the rest), VAE work is tiled."""
    previous = getattr(_state, "small", False)
    _state.small = True
    try:
        with MANAGER.policy_for_now(VRAMPolicy.LOW):
            yield
    finally:
        _state.small = previous


def retry_on_out_of_memory(run: Callable[[], T], what: str) -> T:
    """run(); after an out-of-memory error, free memory and run once more with the smaller
    footprint; a second one raises OutOfMemory naming `what` and the allocation."""
    try:
        return run()
    except Exception as first:
        if not is_out_of_memory(first):
            raise
        log.warning("%s ran out of memory (%s); freeing memory and trying once more with models streamed "
                    "and VAE work in tiles", what, wanted(first) or "size unknown")
    free_what_can_be_freed()
    try:
        with smaller_footprint():
            return run()
    except Exception as second:
        if not is_out_of_memory(second):
            raise
        free_what_can_be_freed()
        size = wanted(second)
        raise OutOfMemory(f"{what} ran out of memory{f' (it asked for {size} more)' if size else ''}, also after "
                          "freeing memory and retrying with models streamed and VAE work in tiles; "
                          "try a smaller image or batch, or --lowvram / --novram") from second
