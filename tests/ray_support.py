"""A private local Ray cluster with worker actors, for the tests that need one: its own
temp folder, a small object store, no dashboard; shut down after. Never `ray stop`: that
ends every Ray process on the machine."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from cluster.pool import PoolOptions, start_workers, stop_workers
from cluster.settings import WorkerSettings
from nodes.folders import Folders

REGISTRY_SPEC = "tests.ray_test_nodes:NODES"
WORKER_TIMEOUT_S = 20.0  # a worker silent this long (heartbeats every 0.5 s) is lost
PACK = '''
import os


class WhichProcess:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("INT", {"default": 0})}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "test"

    def report(self, tag):
        return {"ui": {"pid": [os.getpid()]}}


NODE_CLASS_MAPPINGS = {"WhichProcess": WhichProcess}
'''


def ray_app_dir(make_app_dir) -> Path:
    """App folders for the workers: two tiny checkpoints and a pack reporting its process."""
    base = make_app_dir({"tiny_a.safetensors": "sd1", "tiny_b.safetensors": "sd1"}, name="ray")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "which_process.py").write_text(PACK)
    return base


@contextlib.contextmanager
def ray_workers(base: Path, count: int = 2, timeout_s: float = 8.0, start_timeout_s: float = 180.0) -> Iterator[list]:
    """`count` CPU workers on `base`'s folders, ready (their actors answered) when yielded."""
    import ray

    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    settings = WorkerSettings(base_dir=str(base), registry=REGISTRY_SPEC, heartbeat_s=0.5)
    options = PoolOptions(workers=count, timeout_s=timeout_s, temp_dir=temp, object_store_bytes=96 * 2**20)
    runners = start_workers(options, settings, Folders.under(base))
    try:
        deadline = time.monotonic() + start_timeout_s
        while not all(runner.ready() for runner in runners):
            assert time.monotonic() < deadline, [runner.describe() for runner in runners]
        yield runners
    finally:
        stop_workers(runners)
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
