"""The server's side of one worker actor: a Runner (executor/runners.py) for the queue.

It sends a prompt to the actor, hands each event it streams back to the queue as it
arrives, and tells a lost worker from a failed prompt: the actor's death, or no word from
it (not even a heartbeat) for `timeout_s`, raise WorkerLost, and a worker that stopped
answering is killed so that Ray starts it afresh. Until the actor answers again the runner
is not ready; then it rejoins by itself.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayError, RayTaskError

from executor.run import RunResult, WorkflowInvalid
from executor.runners import EventCallback, WorkerLost
from nodes.folders import Folders

from . import worker as protocol
from .files import input_files, store_output_files

log = logging.getLogger(__name__)
PROBE_WAIT_S = 2.0  # how long one readiness check waits for the actor's answer
CALL_TIMEOUT_S = 120.0  # /free and other short calls


class RayRunner:
    """Runs the queue's prompts on one StudioWorker actor."""

    def __init__(self, name: str, actor: Any, folders: Folders, timeout_s: float = 60.0) -> None:
        self.name = name
        self.actor = actor
        self.folders = folders
        self.timeout_s = timeout_s
        self._state = "starting"  # starting -> ready -> lost -> ready ...; "failed": its start raised
        self._info: dict = {}
        self._models: frozenset[str] = frozenset()
        self._probe: Optional[Any] = None  # the info() call in flight while not ready (asked by the queue's thread only)
        self.lost_count = 0

    # -- Runner ----------------------------------------------------------------------------

    def ready(self) -> bool:
        """Ready once the actor answers (its start imports torch and loads the node packs)."""
        if self._state == "ready":
            return True
        if self._probe is None:
            self._probe = self.actor.info.remote()
        probe = self._probe
        done, _ = ray.wait([probe], timeout=PROBE_WAIT_S)
        if not done:
            return False
        self._probe = None
        try:
            info = ray.get(probe, timeout=PROBE_WAIT_S)
        except RayError as exc:  # still restarting, or gone for good
            if getattr(exc, "actor_init_failed", False) and self._state != "failed":
                self._state, self._info["error"] = "failed", _reason(exc)
                log.error("worker %s could not start: %s", self.name, exc)
            log.debug("worker %s not ready: %s", self.name, exc)
            return False
        self._info, self._models = info, frozenset(info.get("models", ()))
        if self._state == "lost":
            log.warning("worker %s is back (pid %s on %s)", self.name, info.get("pid"), info.get("host"))
        self._state = "ready"
        return True

    def run(self, item: Any, on_event: EventCallback, output_files: Any = None) -> RunResult:
        request = {"prompt": item.prompt, "prompt_id": item.prompt_id, "extra_data": item.extra_data,
                   "outputs": item.outputs, "inputs": [] if self._info.get("shared_folders") else
                   input_files(item.prompt, self.folders)}
        try:
            stream = self.actor.run.remote(request)
            while True:
                kind, data = self._next(stream)
                if kind == protocol.HEARTBEAT:
                    continue
                if kind == protocol.RESULT:
                    return self._finish(data)
                if kind == protocol.INVALID:
                    raise WorkflowInvalid(data)
                if kind == protocol.FAILED:
                    raise RuntimeError(f"{data[0]}: {data[1]}")
                on_event(kind, data)
        except RayTaskError as exc:  # the worker's own code raised: a failed prompt, not a lost worker
            raise RuntimeError(f"worker {self.name}: {exc}") from None
        except RayError as exc:
            if not isinstance(exc, ActorDiedError):  # it may still be running the prompt: end it first
                self._kill()
            raise self._lost(_reason(exc)) from None

    def _next(self, stream: Any) -> tuple[str, Any]:
        done, _ = ray.wait([stream], timeout=self.timeout_s)
        if not done:
            self._kill()
            raise self._lost(f"no answer for {self.timeout_s:g} s; restarted")
        try:
            ref = next(stream)
        except StopIteration:
            raise self._lost("its run ended without a result") from None
        return ray.get(ref, timeout=self.timeout_s)

    def _finish(self, data: dict) -> RunResult:
        result: RunResult = data["result"]
        if data.get("files"):
            store_output_files(data["files"], result.outputs, self.folders)
        self._models = frozenset(data.get("models", ()))
        self._info["prompts_run"] = data["prompts_run"]
        return result

    def interrupt(self) -> None:
        if self._state == "ready":
            self.actor.interrupt.remote()  # answered by a thread of its own beside the run

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if self._state != "ready":
            return
        self._models = frozenset()  # freed, or not known any more
        try:
            ray.get(self.actor.free.remote(unload_models, free_memory), timeout=CALL_TIMEOUT_S)
        except RayError as exc:
            log.warning("worker %s: /free failed: %s", self.name, _reason(exc))

    def models(self) -> frozenset[str]:
        return self._models

    def describe(self) -> dict:
        info = self._info
        return {
            "id": self.name,
            "state": self._state,
            "pid": info.get("pid"),
            "host": info.get("host"),
            "ip": info.get("ip"),
            "device": info.get("device"),
            "threads": info.get("threads"),
            "models": sorted(self._models),
            "prompts_run": info.get("prompts_run", 0),
            "shared_folders": info.get("shared_folders"),
            "lost": self.lost_count,
            **({"error": info["error"]} if info.get("error") else {}),
        }

    # -- losing the worker -----------------------------------------------------------------

    def _lost(self, reason: str) -> WorkerLost:
        self._state, self._models = "lost", frozenset()
        self.lost_count += 1
        return WorkerLost(self.name, reason)

    def _kill(self) -> None:
        """End an actor that stopped answering; Ray starts it again (max_restarts)."""
        try:
            ray.kill(self.actor, no_restart=False)
        except RayError as exc:
            log.warning("worker %s could not be killed: %s", self.name, exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GetTimeoutError):
        return "it stopped answering"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
