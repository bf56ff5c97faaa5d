"""Fuzzing POST /prompt, GET /view and POST /upload/image on a real server: whatever a
client sends, the answer is a 2xx or a 4xx, never a 5xx or a dropped connection, and the
server keeps answering. The cases are bench/fuzz_cases.py's (also run at volume by
`python -m bench.fuzz_server`); the real node registry validates, nothing runs.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Iterator

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bench.fuzz_cases import KINDS, make_case, prepare_folders
from bench.fuzz_http import send
from server.state import FOLDERS
from tests.server_support import make_client


@dataclass(repr=False)  # a failing example prints its arguments: not the whole schema
class FuzzServer:
    loop: asyncio.AbstractEventLoop
    client: TestClient
    schema: dict

    def __repr__(self) -> str:
        return f"FuzzServer({self.base})"

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def run(self, awaitable: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout=60))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    """One server for every example (a fresh one each would dominate the run time)."""
    loop = asyncio.new_event_loop()
    base = tmp_path_factory.mktemp("fuzz") / "a" / "b" / "base"  # '../' escapes stay in tmp

    async def start() -> tuple[TestClient, dict]:
        client = make_client(base, registry=None, start_worker=False)
        await client.start_server()
        folders = client.server.app[FOLDERS]
        prepare_folders(folders.input, folders.output, folders.temp)
        response = await client.get("/object_info")
        return client, await response.json()

    client, schema = loop.run_until_complete(start())
    yield FuzzServer(loop, client, schema)
    loop.run_until_complete(client.close())
    loop.close()


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(KINDS), rng=st.randoms(use_true_random=False))
def test_no_request_gets_a_server_error(fuzz_server: FuzzServer, kind: str, rng: random.Random) -> None:
    case = make_case(rng, fuzz_server.schema, kind)
    note(case.describe(400))
    outcome = fuzz_server.run(send(fuzz_server.client.session, fuzz_server.base, case))
    assert outcome.status_class in ("2xx", "4xx"), (
        f"{case.kind} ({case.detail}) got {outcome.status or 'no answer'}: {outcome.text[:300]}")


def test_server_still_answers_after_fuzzing(fuzz_server: FuzzServer) -> None:
    async def stats() -> int:
        response = await fuzz_server.client.get("/system_stats")
        return response.status

    assert fuzz_server.run(stats()) == 200
