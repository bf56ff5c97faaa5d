"""`serve --ray ADDRESS --workers N`: run prompts on a pool of Ray workers."""
from __future__ import annotations

import argparse
from pathlib import Path

from cluster.settings import WorkerSettings

from .memory_flags import memory_argv

MIN_TIMEOUT_S = 10.0


def add_ray_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workers on Ray")
    group.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run prompts on Ray workers: 'local' (the default when given bare) starts Ray on "
                            "this machine; an address (host:6379, auto) joins a cluster started with `ray start`")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="how many workers (default: one per GPU of the cluster, else one)")
    group.add_argument("--worker-timeout", type=float, default=60.0, metavar="S",
                       help="a running worker that sends nothing for this long is restarted and its prompt "
                            "run elsewhere (default 60)")
    group.add_argument("--worker-cpus", type=int, default=1, metavar="N",
                       help="CPUs reserved for each worker, and its torch threads (default 1)")
    group.add_argument("--ray-temp-dir", default=None, metavar="DIR",
                       help="the session folder of a local Ray instance (default Ray's own)")


def ray_runners(args: argparse.Namespace, folders) -> list:
    """The workers' runners for the prompt queue; empty without --ray."""
    if not args.ray:
        if args.workers is not None:
            raise SystemExit("--workers needs --ray (for example --ray local --workers 2)")
        return []
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.worker_cpus < 1:
        raise SystemExit("--worker-cpus must be at least 1")
    if args.worker_timeout < MIN_TIMEOUT_S:
        raise SystemExit(f"--worker-timeout must be at least {MIN_TIMEOUT_S:g} s: a busy worker speaks every "
                         f"{WorkerSettings.heartbeat_s:g} s, and a shorter wait would take it for lost")
    from cluster.pool import PoolOptions, RayUnavailable, start_workers

    from .app_paths import extra_model_configs

    settings = WorkerSettings(
        base_dir=str(Path(args.base_dir).resolve()),
        models_dir=str(Path(args.models_dir).resolve()) if args.models_dir else None,
        extra_model_paths=tuple(str(Path(p).resolve()) for p in extra_model_configs(args)),
        memory_argv=tuple(memory_argv(args)),
        preview_method=args.preview_method,
    )
    options = PoolOptions(address=args.ray, workers=args.workers, timeout_s=args.worker_timeout,
                          temp_dir=args.ray_temp_dir, cpus_per_worker=args.worker_cpus)
    try:
        return start_workers(options, settings, folders)
    except RayUnavailable as exc:
        raise SystemExit(str(exc)) from None
