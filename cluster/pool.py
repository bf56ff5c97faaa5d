"""Joining (or starting) a Ray cluster and starting the worker actors on it.

`--ray local` starts a private Ray instance inside the server's process tree (no dashboard,
a small object store); any other address joins a cluster started with `ray start`. One
worker per GPU by default (each actor asks Ray for one GPU, so Ray sets its
CUDA_VISIBLE_DEVICES), or CPU workers where the cluster has no GPU; each also reserves
`cpus_per_worker` CPUs, which Ray turns into its torch thread count. Workers import this
checkout: every machine of a cluster needs it, set up, at the same path as the server's.
"""
from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from nodes.folders import Folders

from .settings import SHARE_MARKER, WorkerSettings

log = logging.getLogger(__name__)
REPO_DIR = Path(__file__).resolve().parent.parent
ACTOR_CONCURRENCY = 4  # a run, plus interrupt / info / free beside it


@dataclass(frozen=True)
class PoolOptions:
    address: str = "local"  # "local", "auto", or a cluster's address (host:port, ray://...)
    workers: Optional[int] = None  # default: one per GPU of the cluster, else one
    timeout_s: float = 60.0  # no word from a running worker for this long: it is lost
    temp_dir: Optional[str] = None  # the local instance's session folder
    object_store_bytes: int = 256 * 1024 * 1024  # the local instance's shared memory
    use_gpus: Optional[bool] = None  # default: when the cluster has GPUs
    cpus_per_worker: int = 1  # CPUs Ray reserves for each worker (and its torch threads)


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached."""


def connect(options: PoolOptions, cpus: Optional[int] = None) -> None:
    """ray.init for the server's process; a no-op when Ray is already initialised."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed: run scripts/setup.sh --ray (or ./run.sh --ray ...)") from None
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": {"PYTHONPATH": str(REPO_DIR), "HF_HUB_OFFLINE": "1"}}
    kwargs: dict = {"runtime_env": runtime_env, "log_to_driver": True, "include_dashboard": False}
    if options.address == "local":
        kwargs.update(address="local", num_cpus=cpus, object_store_memory=options.object_store_bytes,
                      _temp_dir=options.temp_dir)
    else:
        kwargs.update(address=options.address)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"could not start or join Ray at {options.address!r}: {exc}") from None


def share_token(folders: Folders) -> str:
    """Write the marker by which workers on this machine's folders know they share them."""
    token = uuid.uuid4().hex
    folders.output.mkdir(parents=True, exist_ok=True)
    (folders.output / SHARE_MARKER).write_text(token)
    return token


def start_workers(options: PoolOptions, settings: WorkerSettings, folders: Folders) -> list:
    """Connect to Ray and start the worker actors; returns their RayRunners (which become
    ready as each actor finishes starting)."""
    import ray

    from .ray_runner import RayRunner
    from .worker import StudioWorker

    count = options.workers
    connect(options, cpus=max((count or 1) * options.cpus_per_worker, os.cpu_count() or 1))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    use_gpus = options.use_gpus if options.use_gpus is not None else gpus > 0
    count = count or max(gpus, 1)
    if use_gpus and count > gpus:
        log.warning("%d workers asked for, %d GPUs in the cluster: the others wait for a free GPU", count, gpus)
    settings = replace(settings, share_token=settings.share_token or share_token(folders))
    resources = {"num_gpus": 1} if use_gpus else {}
    resources["num_cpus"] = options.cpus_per_worker  # Ray gives torch as many threads
    actor_class = ray.remote(StudioWorker).options(
        max_restarts=-1, max_task_retries=0, max_concurrency=ACTOR_CONCURRENCY, **resources)
    runners = []
    for index in range(count):
        actor = actor_class.remote(settings)
        runners.append(RayRunner(f"worker-{index + 1}", actor, folders, timeout_s=options.timeout_s))
    log.info("started %d Ray worker%s (%s)", count, "s" if count != 1 else "", "GPU" if use_gpus else "CPU")
    return runners


def stop_workers(runners: list) -> None:
    """End the actors (the Ray instance itself stays: other work may share it)."""
    import ray

    for runner in runners:
        try:
            ray.kill(runner.actor, no_restart=True)
        except Exception:  # already gone
            log.debug("worker %s was already gone", runner.name)
