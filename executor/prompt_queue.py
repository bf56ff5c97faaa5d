"""The prompt queue: an ordered list of prompts and the worker threads that run them.

Prompts run in (number, arrival) order, as in ComfyUI (`front` gives a negative number),
one at a time on each runner: the in-process executor by default, or each worker of a
pool (executor/runners.py). With several idle runners, a prompt goes to one that already
holds its model files. A runner is driven by a thread so that torch work never blocks the
server's event loop; events leave through one listener, called from whichever thread
produced them, that must hand them on thread-safely. A prompt whose worker went away
mid-run is queued again at its place, `worker_retries` times at most, each noted in its
history. Every change is written to the QueueStore
first, so the queue and the history survive restarts and crashes. A prompt that was
running when the process died is run again at the next start, `crash_retries` times at
most: one that kills the process every time (out of memory) must not become a crash loop.
"""
from __future__ import annotations

import bisect
import logging
import sqlite3
import threading
import time
import uuid
from typing import Callable, Optional

from .output_ledger import OutputLedger
from .queue_store import Number, QueueItem, QueueStore
from .run import Executor, RunResult, WorkflowInvalid
from .runners import LocalRunner, Runner, WorkerLost, model_files_of

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
WORKER_LOST_TYPE = "executor.runners.WorkerLost"
AFFINITY_WINDOW = 8  # how far down the queue an idle runner looks for a prompt whose models it holds


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
        runners: Optional[list[Runner]] = None,
        worker_retries: int = 2,
    ) -> None:
        self.executor = executor
        self.runners: list[Runner] = list(runners) if runners else [LocalRunner(executor)]
        self._runner_named = {runner.name: runner for runner in self.runners}
        self.worker_retries = worker_retries
        self.store = store
        self.listener = listener
        self.crash_retries = crash_retries
        self.ledger = ledger  # files each prompt wrote, so a re-run after a crash reuses them
        self._cond = threading.Condition()
        self._pending: list[QueueItem] = self._restore(store.load_queue())  # crash leftovers come back here
        self._running: dict[str, QueueItem] = {}  # runner name -> its prompt
        self._cancelled: set[str] = set()  # running prompts a client asked to stop
        self._notes: dict[str, list[dict]] = {}  # prompt id -> workers lost while running it
        self._wanted: dict[str, frozenset[str]] = {}  # prompt id -> its model files, worked out once
        stored = store.next_number()
        self._counter = max(stored if usable_number(stored) else 0, self._next_after(self._pending))
        for item in self._pending:  # a number no client could read (from an older version): queued last
            if not usable_number(item.number):
                log.warning("queued prompt %s had the unusable number %r; it runs last as number %d",
                            item.prompt_id, item.number, self._counter)
                item.number, self._counter = self._counter, self._counter + 1
        self._pending.sort(key=lambda i: i.sort_key)
        self._free_requests: dict[str, tuple[bool, bool]] = {}  # runner name -> (unload, free)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._away: set[str] = set()  # runners not taking prompts now: starting, lost, or freeing memory

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
            return len(self._pending) + len(self._running)

    def snapshot(self) -> tuple[list[list], list[list]]:
        """(running, pending) as ComfyUI's GET /queue lists them."""
        with self._cond:
            running = [item.as_list() for item in sorted(self._running.values(), key=lambda i: i.sort_key)]
            return running, [item.as_list() for item in self._pending]

    def workers(self) -> list[dict]:
        """Each runner as /system_stats lists it, with the prompt it is running."""
        with self._cond:
            running = {name: item.prompt_id for name, item in self._running.items()}
        return [{**runner.describe(), "prompt_id": running.get(runner.name)} for runner in self.runners]

    def delete(self, prompt_ids: list[str]) -> int:
        """Remove pending prompts and interrupt a running one (it goes to the history as
        interrupted); returns how many of them there were."""
        wanted = set(prompt_ids)
        with self._cond:
            gone = [item.prompt_id for item in self._pending if item.prompt_id in wanted]
            self._pending = [item for item in self._pending if item.prompt_id not in wanted]
            self.store.remove(gone)
            self._forget_wanted(gone)
            running = [item.prompt_id for item in self._running.values() if item.prompt_id in wanted]
        stopped = sum(self.interrupt(prompt_id) for prompt_id in running)
        if gone:
            self._status_changed()
        return len(gone) + stopped

    def clear(self) -> int:
        with self._cond:
            gone = [item.prompt_id for item in self._pending]
            self._pending = []
            self.store.remove(gone)
            self._forget_wanted(gone)
        self._status_changed()
        return len(gone)

    def interrupt(self, prompt_id: Optional[str] = None) -> bool:
        """Stop the running prompt `prompt_id`, or every running prompt when not given."""
        with self._cond:
            chosen = [(name, item) for name, item in self._running.items()
                      if prompt_id is None or item.prompt_id == prompt_id]
            self._cancelled.update(item.prompt_id for _, item in chosen)
        for name, _ in chosen:
            self._runner_named[name].interrupt()
        return bool(chosen)

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached outputs (loaded models live there) between prompts, never during one."""
        with self._cond:
            for runner in self.runners:
                old = self._free_requests.get(runner.name, (False, False))
                self._free_requests[runner.name] = (old[0] or unload_models, old[1] or free_memory)
            self._cond.notify_all()

    def status(self) -> dict:
        return {"status": {"exec_info": {"queue_remaining": self.remaining()}}}

    # -- the worker -------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stopping = False
        for index, runner in enumerate(self.runners):
            thread = threading.Thread(target=self._work, args=(runner,), daemon=True,
                                      name="prompt-worker" if index == 0 else f"prompt-worker-{index}")
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; interrupted running prompts stay queued for the next start."""
        if not self._threads:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        while any(thread.is_alive() for thread in self._threads) and time.monotonic() < deadline:
            with self._cond:
                busy = list(self._running)
            for name in busy:
                self._runner_named[name].interrupt()
            for thread in self._threads:
                thread.join(0.05)
        self._threads = []

    def _take(self, runner: Runner) -> tuple[Optional[QueueItem], Optional[tuple[bool, bool]]]:
        """The next prompt for `runner` (and a pending /free for it); (None, None) when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None, None
                free = self._free_requests.pop(runner.name, None)
                item = self._choose(runner)
                if item is not None:
                    self._pending.remove(item)
                    self._forget_wanted([item.prompt_id])
                    self._running[runner.name] = item
                    if self._pending and len(self.runners) > 1:
                        self._cond.notify_all()  # a runner that left prompts to this one is now the idle one
                if item is not None or free is not None:
                    return item, free
                self._cond.wait()

    def _forget_wanted(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            self._wanted.pop(prompt_id, None)

    def _choose(self, runner: Runner) -> Optional[QueueItem]:
        """The first prompt no other idle runner is better placed for (holds more of its models)."""
        idle = [other for other in self.runners if other.name not in self._running and other.name not in self._away]
        if len(idle) <= 1:
            return self._pending[0] if self._pending else None
        held = {other.name: other.models() for other in idle}
        for item in self._pending[:AFFINITY_WINDOW]:
            wanted = self._wanted.get(item.prompt_id)
            if wanted is None:  # walked once per queued prompt, not at every wake-up
                wanted = self._wanted[item.prompt_id] = model_files_of(item.prompt)
            scores = {name: len(wanted & models) for name, models in held.items()}
            if scores[runner.name] == max(scores.values()):
                return item
        return None  # each is another idle runner's: woken by the same notify, it takes them

    def _work(self, runner: Runner) -> None:
        while not self._stopping:
            if not self._runner_ready(runner):
                self._set_away(runner, True)
                with self._cond:
                    self._cond.wait(1.0)
                continue
            self._set_away(runner, False)
            try:
                item, free = self._take(runner)
            except Exception:  # pragma: no cover - a bug here must not kill the worker
                log.exception("prompt queue worker failed to take an item")
                continue
            if free is not None:
                self._free(runner, free, busy=item is not None)
            if item is None:
                continue
            try:
                self._process(item, runner)
            except Exception:
                log.exception("prompt %s: the queue failed to record its result", item.prompt_id)
            finally:
                with self._cond:
                    if self._running.get(runner.name) is item:  # not when queued again for another
                        del self._running[runner.name]
                        self._cancelled.discard(item.prompt_id)
                    self._cond.notify_all()  # prompts left for this runner may suit another now
            self._status_changed()

    def _set_away(self, runner: Runner, away: bool) -> None:
        with self._cond:
            if away == (runner.name in self._away):
                return
            if away:
                self._away.add(runner.name)
            else:
                self._away.discard(runner.name)
            self._cond.notify_all()  # prompts it was better placed for go to the others, or back
        self._status_changed()  # clients listing the workers look again (a worker lost, or back)

    def _free(self, runner: Runner, free: tuple[bool, bool], busy: bool) -> None:
        """/free on one runner (before the prompt it took, when it took one)."""
        away = not busy and len(self.runners) > 1  # others must not leave it prompts meanwhile
        if away:
            self._set_away(runner, True)
        try:
            runner.free(*free)
        except Exception:  # freeing memory is best effort; the item must still run
            log.exception("freeing memory failed")
        finally:
            if away:
                self._set_away(runner, False)

    @staticmethod
    def _runner_ready(runner: Runner) -> bool:
        try:
            return runner.ready()
        except Exception:
            log.exception("worker %s: readiness check failed", runner.name)
            return False

    def _process(self, item: QueueItem, runner: Runner) -> None:
        self.store.mark_running(item.prompt_id)
        self._status_changed()
        client = item.client_id
        held: list[tuple[str, dict]] = []  # terminal events wait until the history is written

        def on_event(kind: str, data: dict) -> None:
            if item.prompt_id in self._cancelled:  # asked before the run began (which clears interrupts)
                runner.interrupt()
            if kind in TERMINAL_EVENTS or (kind == "executing" and data.get("node") is None):
                held.append((kind, data))
            else:
                self._emit(kind, data, client)

        try:
            result = self._execute(item, runner, on_event)
        except WorkerLost as lost:
            if self._requeue(item, runner, lost):
                return
            held.clear()
            if item.prompt_id in self._cancelled:  # asked to stop: it ends as interrupted, not failed
                result = interrupted_result(item, on_event)
            else:
                tries = len(self._notes.get(item.prompt_id, ()))
                result = failed_result(item, on_event, WORKER_LOST_TYPE,
                                       f"{lost}; given up after {tries} tries on workers that went away")
        if self._stopping and result.status == "interrupted" and item.prompt_id not in self._cancelled:
            self.store.release(item.prompt_id)  # shutdown, not the user: run it next time
            return
        entry = history_entry(item, result)
        if len(self.runners) > 1 or not isinstance(runner, LocalRunner):
            entry["worker"] = runner.name
        notes = self._notes.pop(item.prompt_id, [])
        entry["status"]["messages"][:0] = [["worker_lost", note] for note in notes]
        try:
            self.store.finish(item.prompt_id, entry)
            if self.ledger is not None:
                self.ledger.forget(item.prompt_id)
        finally:  # a client waiting for the end hears it even if the history write failed
            for kind, data in held:
                self._emit(kind, data, client)

    def _requeue(self, item: QueueItem, runner: Runner, lost: WorkerLost) -> bool:
        """Queue a prompt whose worker went away again at its place; False once it has had its
        tries (or was asked to stop)."""
        log.warning("prompt %s: %s", item.prompt_id, lost)
        notes = self._notes.setdefault(item.prompt_id, [])
        notes.append({"prompt_id": item.prompt_id, "worker": lost.worker, "reason": lost.reason,
                      "timestamp": int(time.time() * 1000)})
        with self._cond:
            cancelled = item.prompt_id in self._cancelled
            if self._stopping and not cancelled:
                self.store.release(item.prompt_id)  # the server is stopping: it runs at the next start
                return True
            if cancelled or len(notes) > self.worker_retries:
                return False
            self.store.release(item.prompt_id)
            del self._running[runner.name]  # with the insert: never both running and pending
            bisect.insort(self._pending, item, key=lambda i: i.sort_key)
            self._cond.notify_all()
        return True

    def _execute(self, item: QueueItem, runner: Runner, on_event: Callable[[str, dict], None]) -> RunResult:
        try:
            files = self.ledger.for_prompt(item.prompt_id) if self.ledger is not None else None
            return runner.run(item, on_event, files)
        except WorkflowInvalid as exc:  # valid when queued, not any more (a model file removed...)
            return failed_result(item, on_event, "executor.run.WorkflowInvalid", describe_invalid(exc))
        except WorkerLost:
            raise
        except Exception as exc:  # a bug in the executor must not stop the queue
            log.exception("prompt %s: the executor failed", item.prompt_id)
            return failed_result(item, on_event, f"{type(exc).__module__}.{type(exc).__name__}", str(exc))

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


def interrupted_result(item: QueueItem, on_event: Callable[[str, dict], None]) -> RunResult:
    """A RunResult (and its events) for a prompt stopped before a worker could finish it."""
    stamp = int(time.time() * 1000)
    stopped = {"prompt_id": item.prompt_id, "node_id": None, "node_type": None, "executed": []}
    on_event("execution_interrupted", stopped)
    on_event("executing", {"node": None, "display_node": None, "prompt_id": item.prompt_id})
    return RunResult(status="interrupted", error=stopped, messages=[("execution_interrupted", {**stopped, "timestamp": stamp})])


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
