"""The worker actor: an executor of its own (cache, model manager, custom nodes) that runs
one prompt at a time and streams its events back to the server.

`run` is a generator: Ray hands each yielded event to the server as it is produced, so
progress and previews arrive while the prompt runs. The prompt runs on a thread of its
own; while it is quiet (a long node) the generator yields a heartbeat every few seconds,
so that a worker that stops answering is told from one that is busy. This module runs in
the worker's process (it is the process's entry point, as main.py is the server's).
"""
from __future__ import annotations

import hashlib
import os
import queue
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from .settings import SHARE_MARKER, WorkerSettings

HEARTBEAT = "heartbeat"
RESULT = "result"  # the last event: {"result": RunResult, "files": [...], "models": [...], "prompts_run": n}
INVALID = "invalid"  # the last event: the ValidationResult of a prompt the worker finds invalid
FAILED = "failed"  # the last event: the worker's own code failed ("module.Type", message)


class StudioWorker:
    """Runs prompts for the server's queue (wrapped with ray.remote by cluster.pool)."""

    def __init__(self, settings: WorkerSettings) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.settings = settings
        self._apply_process_settings(settings)
        from executor.run import Executor
        from nodes.extra_model_paths import folders_with_extra_paths

        folders = folders_with_extra_paths(Path(settings.base_dir), settings.models_dir, settings.extra_model_paths)
        self.shared_folders = not settings.ship_files and _reads_marker(folders.output, settings.share_token)
        if not self.shared_folders:  # another machine: inputs and outputs live in a scratch folder here
            tag = hashlib.sha1(settings.base_dir.encode()).hexdigest()[:12]
            scratch = Path(tempfile.gettempdir()) / f"sd-studio-worker-{tag}"
            folders.input, folders.output, folders.temp = scratch / "input", scratch / "output", scratch / "temp"
        for folder in (folders.input, folders.output, folders.temp):
            folder.mkdir(parents=True, exist_ok=True)
        self.folders = folders
        self.executor = Executor(folders, registry=self._registry(settings, folders))
        self._used_models: dict[str, str] = {}  # model file -> the cache key of its loader
        self._lock = threading.Lock()  # one run (or /free) at a time
        self._models_lock = threading.Lock()
        self.current: str | None = None
        self.prompts_run = 0

    @staticmethod
    def _apply_process_settings(settings: WorkerSettings) -> None:
        """The server's memory, precision and preview flags, for this whole process."""
        import argparse

        from cli.memory_flags import add_memory_flags, apply_memory_flags

        parser = argparse.ArgumentParser(add_help=False)
        add_memory_flags(parser)
        apply_memory_flags(parser.parse_args(list(settings.memory_argv)))
        from comfy.cli_args import use_preview_method  # importable once the flags installed the surface

        use_preview_method(settings.preview_method)

    @staticmethod
    def _registry(settings: WorkerSettings, folders: Any) -> Any:
        """The app's nodes (or the named registry), with the packs of BASE/custom_nodes."""
        from nodes.registry import REGISTRY

        registry = REGISTRY
        if settings.registry:
            import importlib

            module, _, attribute = settings.registry.partition(":")
            registry = getattr(importlib.import_module(module), attribute)
        if settings.load_custom_nodes:
            from comfy_compat.setup import load_headless

            load_headless(Path(settings.base_dir) / "custom_nodes", folders, registry)
        return registry

    # -- what the server asks --------------------------------------------------------------

    def info(self) -> dict:
        """Who and where this worker is, and what it holds."""
        from diffusion.memory_manager import MANAGER

        device = MANAGER.device
        name = str(device)
        if device.type == "cuda":
            import torch

            name = f"{device} {torch.cuda.get_device_name(device)}"
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "ip": _node_ip(),
            "device": name,
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "threads": _torch_threads(),
            "models": sorted(self.models()),
            "prompt_id": self.current,
            "prompts_run": self.prompts_run,
            "shared_folders": self.shared_folders,
        }

    def models(self) -> frozenset[str]:
        from executor.runners import held_model_files

        with self._models_lock:
            return held_model_files(self.executor, self._used_models)

    def interrupt(self) -> None:
        self.executor.interrupt()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        from executor.runners import free_executor

        with self._lock:
            free_executor(self.executor, unload_models, free_memory)

    def run(self, request: dict) -> Iterator[tuple[str, Any]]:
        """Run one prompt, yielding (event, data) as it goes and a RESULT, INVALID or FAILED last."""
        events: queue.Queue = queue.Queue()
        worker = threading.Thread(target=self._run, args=(request, events), name="prompt", daemon=True)
        worker.start()
        interval, last_preview = self.settings.preview_interval_s, 0.0
        while True:
            try:
                kind, data = events.get(timeout=self.settings.heartbeat_s)
            except queue.Empty:
                yield HEARTBEAT, None
                continue
            if kind == "preview":
                now = time.monotonic()
                if now - last_preview < interval:
                    continue  # the server would drop it anyway; spare the transfer
                last_preview = now
            yield kind, data
            if kind in (RESULT, INVALID, FAILED):
                return

    def _run(self, request: dict, events: queue.Queue) -> None:
        from executor.run import WorkflowInvalid
        from executor.runners import remember_model_files

        from .files import output_files, place_input_files

        prompt = request["prompt"]
        try:
            with self._lock:
                self.current = request["prompt_id"]
                place_input_files(request.get("inputs") or [], self.folders)
                result = self.executor.run(
                    prompt, prompt_id=request["prompt_id"], on_event=lambda kind, data: events.put((kind, data)),
                    extra_data=request.get("extra_data") or {}, outputs=request.get("outputs") or None,
                )
                with self._models_lock:
                    remember_model_files(self.executor, prompt, self._used_models)
                files = [] if self.shared_folders else output_files(result.outputs, self.folders, remove_temp=True)
                self.prompts_run += 1
            events.put((RESULT, {"result": result, "files": files, "models": sorted(self.models()),
                                 "prompts_run": self.prompts_run}))
        except WorkflowInvalid as exc:
            events.put((INVALID, exc.result))
        except BaseException as exc:  # reported to the server, which records the prompt as failed
            events.put((FAILED, (f"{type(exc).__module__}.{type(exc).__name__}", str(exc))))
        finally:
            self.current = None


def _reads_marker(output: Path, token: str) -> bool:
    try:
        return bool(token) and (output / SHARE_MARKER).read_text().strip() == token
    except OSError:
        return False


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _node_ip() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # outside Ray (tests of the class itself)
        return "127.0.0.1"
