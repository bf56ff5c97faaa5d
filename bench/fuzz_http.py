"""Sending a fuzz case over real HTTP and recording what came back.

The target goes out exactly as encoded by the case (no re-quoting by the client), and a
dropped connection or a request that never answers is an outcome too, not a crash.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from .fuzz_core import Case

NO_ANSWER = 0  # status recorded when the server closed the connection or timed out


@dataclass(frozen=True)
class Outcome:
    index: int
    case: Case
    status: int
    text: str  # the response body's start (or the client error)
    ms: float

    @property
    def status_class(self) -> str:
        return "no answer" if self.status == NO_ANSWER else f"{self.status // 100}xx"


async def send(session: aiohttp.ClientSession, base: str, case: Case, index: int = 0,
               timeout: float = 30.0, keep: int = 2000) -> Outcome:
    """Send `case` to the server at `base` (http://host:port) and time the full answer."""
    url = URL(base.rstrip("/") + case.target, encoded=True)
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    started = time.perf_counter()
    try:
        async with session.request(case.method, url, data=case.body or None, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.read()
            status = response.status
        text = body[:keep].decode("utf-8", "replace")
    except asyncio.TimeoutError:
        status, text = NO_ANSWER, f"no answer within {timeout:.0f} s"
    except aiohttp.ClientError as exc:
        status, text = NO_ANSWER, f"{type(exc).__name__}: {exc}"
    return Outcome(index, case, status, text, (time.perf_counter() - started) * 1000)
