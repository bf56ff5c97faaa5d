"""The prompt queue: an ordered list of prompts and one worker thread that runs them.

Prompts run one at a time in (number, arrival) order, as in ComfyUI (`front` gives a
negative number). The worker is a thread so that torch work never blocks the server's
event loop; events leave through one listener, called from whichever thread produced
them, that must hand them on thread-safely. Every change is written to the QueueStore
first, so the queue and the history survive restarts and crashes. A prompt that was
running when the process died is run again at the next start, `crash_retries` times at
most: one that kills the process every time (out of memory) must not become a crash loop.
"""
from __future__ import annotations

import bisect
import gc
import logging
import sqlite3
import sys
import threading
import time
import uuid
from typing import Callable, Optional

from .output_ledger import OutputLedger
from .queue_store import Number, QueueItem, QueueStore
from .run import Executor, RunResult, WorkflowInvalid

log = logging.getLogger(__name__)

# Queue numbers stay whole-number-exact in JSON (a browser's doubles) and in SQLite's integers.
MAX_NUMBER = 2 ** 53


def usable_number(value: object) -> bool:
    """A queue number the queue can order, store and hand to any JSON reader."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value and abs(value) <= MAX_NUMBER)


# (event type, payload, client id or None for everyone)
QueueListener = Callable[[str, dict, Optional[str]], None]

TERMINAL_EVENTS = ("execution_success", "execution_error", "execution_interrupted")
CRASHED_TYPE = "executor.prompt_queue.ServerStopped"


class DuplicatePromptId(ValueError):
    """A client-chosen prompt id that is already queued or in the history."""


class PromptQueue:
    """Pending prompts in memory (mirrored in SQLite) and the worker that runs them."""

    def __init__(
        self,
        executor: Executor,
        store: QueueStore,
        listener: Optional[QueueListener] = None,
        crash_retries: int = 1,
        ledger: Optional[OutputLedger] = None,
    ) -> None:
        self.executor = executor
        self.store = store
        self.listener = listener
        self.crash_retries = crash_retries
        self.ledger = ledger  # files each prompt wrote, so a re-run after a crash reuses them
        self._cond = threading.Condition()
        self._pending: list[QueueItem] = self._restore(store.load_queue())  # crash leftovers come back here
        self._running: Optional[QueueItem] = None
        self._cancelled: Optional[str] = None  # the running prompt a client asked to stop
        stored = store.next_number()
        self._counter = max(stored if usable_number(stored) else 0, self._next_after(self._pending))
        for item in self._pending:  # a number no client could read (from an older version): queued last
            if not usable_number(item.number):
                log.warning("queued prompt %s had the unusable number %r; it runs last as number %d",
                            item.prompt_id, item.number, self._counter)
                item.number, self._counter = self._counter, self._counter + 1
        self._pending.sort(key=lambda i: i.sort_key)
        self._free_request: Optional[tuple[bool, bool]] = None
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    def _restore(self, items: list[QueueItem]) -> list[QueueItem]:
        """The stored queue, less the prompts the process died on more than
        `crash_retries` times: those go to the history as failed."""
        kept = []
        for item in items:
            if item.was_running and max(item.attempts, 1) > self.crash_retries:
                self._give_up(item)
            else:
                kept.append(item)
        self.store.clear_running()
        return kept

    def _give_up(self, item: QueueItem) -> None:
        times = max(item.attempts, 1)
        message = (f"the server stopped while running this prompt {times} time{'s' if times != 1 else ''}; "
                   "it was not started again")
        log.warning("prompt %s: %s", item.prompt_id, message)
        result = failed_result(item, lambda kind, data: None, CRASHED_TYPE, message)
        self.store.finish(item.prompt_id, history_entry(item, result))

    @staticmethod
    def _next_after(items: list[QueueItem]) -> int:
        # A number out of range (written by an older version) must not stop the start.
        return max((int(item.number) + 1 for item in items if usable_number(item.number) and item.number >= 0), default=0)

    # -- queueing ---------------------------------------------------------------------

    def put(
        self,
        prompt: dict,
        extra_data: dict,
        outputs: list[str],
        *,
        prompt_id: Optional[str] = None,
        number: Optional[Number] = None,
        front: bool = False,
    ) -> QueueItem:
        """Queue a validated prompt (persisted before this returns); raises
        DuplicatePromptId for a prompt id already taken."""
        with self._cond:
            if number is None:
                number = -self._counter if front else self._counter
                self._counter += 1
            item = QueueItem(number, prompt_id or str(uuid.uuid4()), prompt, extra_data, list(outputs))
            try:
                item.seq = self.store.add(item, self._counter)
            except sqlite3.IntegrityError:
                raise DuplicatePromptId(f"prompt id '{item.prompt_id}' is already in use") from None
            bisect.insort(self._pending, item, key=lambda i: i.sort_key)
            self._cond.notify_all()
        self._status_changed()
        return item

    def knows(self, prompt_id: str) -> bool:
        return self.store.knows(prompt_id)

    def remaining(self) -> int:
        with self._cond:
            return len(self._pending) + (self._running is not None)

    def snapshot(self) -> tuple[list[list], list[list]]:
        """(running, pending) as ComfyUI's GET /queue lists them."""
        with self._cond:
            running = [self._running.as_list()] if self._running is not None else []
            return running, [item.as_list() for item in self._pending]

    def delete(self, prompt_ids: list[str]) -> int:
        """Remove pending prompts and interrupt a running one (it goes to the history as
        interrupted); returns how many of them there were."""
        wanted = set(prompt_ids)
        with self._cond:
            gone = [item.prompt_id for item in self._pending if item.prompt_id in wanted]
            self._pending = [item for item in self._pending if item.prompt_id not in wanted]
            self.store.remove(gone)
            running = self._running.prompt_id if self._running is not None else None
        stopped = running in wanted and self.interrupt(running)
        if gone:
            self._status_changed()
        return len(gone) + int(stopped)

    def clear(self) -> int:
        with self._cond:
            gone = [item.prompt_id for item in self._pending]
            self._pending = []
            self.store.remove(gone)
        self._status_changed()
        return len(gone)

    def interrupt(self, prompt_id: Optional[str] = None) -> bool:
        """Stop the running prompt (only if it is `prompt_id`, when given)."""
        with self._cond:
            running = self._running
            if running is None or (prompt_id is not None and running.prompt_id != prompt_id):
                return False
            self._cancelled = running.prompt_id
        self.executor.interrupt()
        return True

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached outputs (loaded models live there) between prompts, never during one."""
        with self._cond:
            old = self._free_request or (False, False)
            self._free_request = (old[0] or unload_models, old[1] or free_memory)
            self._cond.notify_all()

    def status(self) -> dict:
        return {"status": {"exec_info": {"queue_remaining": self.remaining()}}}

    # -- the worker -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="prompt-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker; an interrupted running prompt stays queued for the next start."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            with self._cond:
                if self._running is not None:
                    self.executor.interrupt()
            thread.join(0.05)
        self._thread = None

    def _take(self) -> Optional[QueueItem]:
        with self._cond:
            while not self._stopping and not self._pending and self._free_request is None:
                self._cond.wait()
            if self._stopping:
                return None
            free, self._free_request = self._free_request, None
            item = self._pending.pop(0) if self._pending else None
            self._running = item
        if free is not None:
            try:
                self._free(*free)
            except Exception:  # freeing memory is best effort; the item must still run
                log.exception("freeing memory failed")
        return item

    def _work(self) -> None:
        while True:
            try:
                item = self._take()
            except Exception:  # pragma: no cover - a bug here must not kill the worker
                log.exception("prompt queue worker failed to take an item")
                continue
            if item is None:
                if self._stopping:
                    return
                continue
            try:
                self._process(item)
            except Exception:
                log.exception("prompt %s: the queue failed to record its result", item.prompt_id)
            finally:
                with self._cond:
                    self._running = None
                    self._cancelled = None
            self._status_changed()

    def _process(self, item: QueueItem) -> None:
        self.store.mark_running(item.prompt_id)
        self._status_changed()
        client = item.client_id
        held: list[tuple[str, dict]] = []  # terminal events wait until the history is written

        def on_event(kind: str, data: dict) -> None:
            if self._cancelled == item.prompt_id:  # asked before the run began (which clears interrupts)
                self.executor.interrupt()
            if kind in TERMINAL_EVENTS or (kind == "executing" and data.get("node") is None):
                held.append((kind, data))
            else:
                self._emit(kind, data, client)

        result = self._execute(item, on_event)
        if self._stopping and result.status == "interrupted" and self._cancelled != item.prompt_id:
            self.store.release(item.prompt_id)  # shutdown, not the user: run it next time
            return
        try:
            self.store.finish(item.prompt_id, history_entry(item, result))
            if self.ledger is not None:
                self.ledger.forget(item.prompt_id)
        finally:  # a client waiting for the end hears it even if the history write failed
            for kind, data in held:
                self._emit(kind, data, client)

    def _execute(self, item: QueueItem, on_event: Callable[[str, dict], None]) -> RunResult:
        try:
            return self.executor.run(
                item.prompt,
                prompt_id=item.prompt_id,
                on_event=on_event,
                extra_data=item.extra_data,
                outputs=item.outputs or None,
                output_files=self.ledger.for_prompt(item.prompt_id) if self.ledger is not None else None,
            )
        except WorkflowInvalid as exc:  # valid when queued, not any more (a model file removed...)
            return failed_result(item, on_event, "executor.run.WorkflowInvalid", describe_invalid(exc))
        except Exception as exc:  # a bug in the executor must not stop the queue
            log.exception("prompt %s: the executor failed", item.prompt_id)
            return failed_result(item, on_event, f"{type(exc).__module__}.{type(exc).__name__}", str(exc))

    def _free(self, unload_models: bool, free_memory: bool) -> None:
        if unload_models:
            from diffusion.memory_manager import MANAGER

            MANAGER.unload_all()
        if unload_models or free_memory:
            self.executor.cache.clear()
            self.executor.plans.clear()
            gc.collect()
            torch = sys.modules.get("torch")  # only if something already loaded it
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _status_changed(self) -> None:
        self._emit("status", self.status(), None)

    def _emit(self, kind: str, data: dict, client_id: Optional[str]) -> None:
        if self.listener is None:
            return
        try:
            self.listener(kind, data, client_id)
        except Exception:  # a broken listener must not stop the queue
            log.exception("queue listener failed on %s", kind)


def describe_invalid(exc: WorkflowInvalid) -> str:
    lines = [str(exc)]
    for node_id, entry in exc.result.node_errors.items():
        for problem in entry.get("errors", []):
            lines.append(f"node {node_id} ({entry.get('class_type')}): {problem.get('message')}")
    return "\n".join(lines)


def failed_result(item: QueueItem, on_event: Callable[[str, dict], None], exc_type: str, message: str) -> RunResult:
    """A RunResult (and the events a client expects) for a prompt that could not start."""
    stamp = int(time.time() * 1000)
    error = {
        "prompt_id": item.prompt_id,
        "node_id": None,
        "node_type": None,
        "executed": [],
        "exception_message": message,
        "exception_type": exc_type,
        "traceback": [],
        "current_inputs": {},
        "current_outputs": [],
    }
    start = {"prompt_id": item.prompt_id}
    on_event("execution_start", start)
    on_event("execution_error", error)
    on_event("executing", {"node": None, "display_node": None, "prompt_id": item.prompt_id})
    messages = [("execution_start", {**start, "timestamp": stamp}), ("execution_error", {**error, "timestamp": stamp})]
    return RunResult(status="error", error=error, messages=messages)


def history_entry(item: QueueItem, result: RunResult) -> dict:
    """ComfyUI's history record: the queue item, the UI outputs and the status messages."""
    success = result.status == "success"
    return {
        "prompt": item.as_list(),
        "outputs": result.outputs,
        "status": {
            "status_str": "success" if success else "error",
            "completed": success,
            "messages": [[kind, data] for kind, data in result.messages if kind != "executed"],
        },
        "meta": {
            node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
            for node_id in result.outputs
        },
    }
