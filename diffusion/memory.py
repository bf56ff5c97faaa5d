"""How much memory there is, and the preflight that refuses work which could never fit.

A node that allocates by size (an empty latent, a resize, a VAE decode) asks here before
it starts: failing in a second with "would need 256 GiB; this machine has 23 GiB free"
beats swapping for minutes and then being killed. The budget is the free system memory;
tests (and, later, a device budget) can set it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import psutil

GIB = 1024 ** 3
CACHE_SHARE = 0.5  # of the machine's RAM, at most, for cached node outputs
_override: Optional[int] = None


class InsufficientMemory(MemoryError):
    """Work refused before it started because its estimated need exceeds the budget."""


def total_ram_bytes() -> int:
    return int(psutil.virtual_memory().total)


def available_bytes() -> int:
    """What a new allocation can use now: free RAM (or the budget a test has set)."""
    if _override is not None:
        return _override
    return int(psutil.virtual_memory().available)


@contextlib.contextmanager
def memory_budget(nbytes: int) -> Iterator[None]:
    """Pretend only `nbytes` are free while the block runs (tests, simulated small machines)."""
    global _override
    previous, _override = _override, int(nbytes)
    try:
        yield
    finally:
        _override = previous


def fits(nbytes: int) -> bool:
    return nbytes <= available_bytes()


def preflight(what: str, nbytes: int) -> None:
    """Raise InsufficientMemory, naming `what` and both sizes, when `nbytes` cannot fit."""
    free = available_bytes()
    if nbytes > free:
        raise InsufficientMemory(f"{what} would need {format_bytes(nbytes)}; this machine has "
                                 f"{format_bytes(free)} free")


def default_cache_bytes() -> int:
    """The output cache's bound: a share of this machine's RAM, not a fixed size."""
    return int(total_ram_bytes() * CACHE_SHARE)


def tensor_bytes(*shape: int, element_size: int = 4) -> int:
    count = element_size
    for side in shape:
        count *= max(int(side), 0)
    return count


def format_bytes(nbytes: int) -> str:
    if nbytes >= GIB:
        return f"{nbytes / GIB:,.0f} GiB" if nbytes >= 10 * GIB else f"{nbytes / GIB:.1f} GiB"
    return f"{nbytes / 1024 ** 2:,.0f} MiB"
