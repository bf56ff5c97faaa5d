"""Fuzz a fresh server over loopback HTTP: POST /prompt, GET /view, POST /upload/image.

    .venv/bin/python -m bench.fuzz_server [--cases 500] [--seed 0] [--run-timeout 60]

The server runs on temporary folders with the real node registry and its queue worker,
so accepted prompts really run (the generated workflows are small and never sample).
Prints counts by status class and by fault kind, the slowest answer, every 5xx (or
dropped connection) with a reproducer and where the server raised, whether the server
still answers GET /system_stats, and how the accepted prompts ended at run time.
Case #i of seed S is always the same request (bench.fuzz_cases.case_at).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Optional

import aiohttp
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from aiohttp.test_utils import TestServer

from bench.fuzz_cases import case_at, prepare_folders
from bench.fuzz_http import send
from bench.fuzz_report import RunResults, Tally, format_report, run_results
from server.app import create_app
from server.config import ServerConfig


class ErrorLog(logging.Handler):
    """Keeps the server's logged exceptions (and keeps them off the console)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)

    def drain_where(self) -> str:
        """Where the last exception logged since the previous call was raised."""
        records, self.records = self.records, []
        if not records:
            return ""
        _, exc, tb = records[-1].exc_info
        frames = traceback.extract_tb(tb)
        ours = [f for f in frames if "site-packages" not in f.filename] or frames
        frame = ours[-1]
        return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}: {type(exc).__name__}: {str(exc)[:150]}"


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
        return response.status, await response.json(content_type=None)


async def _wait_for_queue(session: aiohttp.ClientSession, base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, queue = await _get_json(session, f"{base}/queue")
        if not queue["queue_running"] and not queue["queue_pending"]:
            return
        await asyncio.sleep(0.25)


async def _alive(session: aiohttp.ClientSession, base: str) -> bool:
    try:
        status, _ = await _get_json(session, f"{base}/system_stats")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return False
    return status == 200


async def fuzz(cases: int, seed: int, run_timeout: float, request_timeout: float, base_dir: Path,
               errors: ErrorLog) -> tuple[Tally, bool, Optional[RunResults], float]:
    config = ServerConfig(base_dir=base_dir, start_worker=True)
    app = create_app(config)
    folders = config.folders()
    prepare_folders(folders.input, folders.output, folders.temp)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    tally, accepted = Tally(), {}
    try:
        async with aiohttp.ClientSession() as session:
            _, schema = await _get_json(session, f"{base}/object_info")
            started = time.perf_counter()
            for index in range(cases):
                case = case_at(seed, index, schema)
                outcome = await send(session, base, case, index, request_timeout)
                tally.add(outcome, errors.drain_where() if outcome.status >= 500 else "")
                errors.records.clear()
                if case.target == "/prompt" and outcome.status == 200:
                    prompt_id = _prompt_id(outcome.text)
                    if prompt_id is not None:
                        accepted[prompt_id] = case.kind
            await _wait_for_queue(session, base, run_timeout)
            seconds = time.perf_counter() - started
            _, history = await _get_json(session, f"{base}/history")
            runs = run_results(history, accepted) if accepted else None
            alive = await _alive(session, base)
            async with session.post(f"{base}/queue", json={"clear": True}):
                pass
            async with session.post(f"{base}/interrupt", json={}):
                pass
    finally:
        await server.close()
    return tally, alive, runs, seconds


def _prompt_id(text: str) -> Optional[str]:
    try:
        value = json.loads(text).get("prompt_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-timeout", type=float, default=60.0, help="seconds to wait for accepted prompts to run")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    errors = ErrorLog()
    logging.basicConfig(level=logging.ERROR, handlers=[errors], force=True)
    for noise in (BadContentDispositionHeader, BadContentDispositionParam):  # odd upload names, as intended
        warnings.simplefilter("ignore", noise)
    with tempfile.TemporaryDirectory(prefix="fuzz-server-") as tmp:
        base_dir = Path(tmp) / "a" / "b" / "base"  # escapes through '../' stay inside tmp
        tally, alive, runs, seconds = asyncio.run(
            fuzz(args.cases, args.seed, args.run_timeout, args.request_timeout, base_dir, errors))
    print(format_report(tally, seconds, alive, runs, args.seed, str(base_dir.resolve())))
    return 0 if alive and not tally.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
