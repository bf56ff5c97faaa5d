"""The prompt queue with several runners (no Ray): model affinity, prompts of lost workers
queued again with a history note, retries bounded, runners not ready left out."""
from __future__ import annotations

import threading
import time
from typing import Optional

from executor.prompt_queue import PromptQueue
from executor.queue_store import QueueStore
from executor.run import RunResult
from executor.runners import WorkerLost, model_files_of


class FakeRunner:
    """Runs a prompt by waiting on `gate` (when given); loses its worker `lose` times."""

    def __init__(self, name: str, models: frozenset = frozenset(), lose: int = 0,
                 gate: Optional[threading.Event] = None) -> None:
        self.name, self._models, self.lose, self.gate = name, models, lose, gate
        self.ran: list[str] = []
        self.interrupted = threading.Event()
        self.is_ready = True

    def run(self, item, on_event, output_files) -> RunResult:
        on_event("execution_start", {"prompt_id": item.prompt_id})
        if self.lose:
            self.lose -= 1
            raise WorkerLost(self.name, "its process died")
        if self.gate is not None:
            while not self.gate.wait(0.01) and not self.interrupted.is_set():
                pass
        self.ran.append(item.prompt_id)
        self._models = self._models | model_files_of(item.prompt)
        on_event("execution_success", {"prompt_id": item.prompt_id})
        on_event("executing", {"node": None, "prompt_id": item.prompt_id})
        return RunResult(status="interrupted" if self.interrupted.is_set() else "success")

    def interrupt(self) -> None:
        self.interrupted.set()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        self._models = frozenset()

    def ready(self) -> bool:
        return self.is_ready

    def models(self) -> frozenset:
        return self._models

    def describe(self) -> dict:
        return {"id": self.name, "state": "ready" if self.is_ready else "lost"}


def prompt_for(ckpt: str, lora: Optional[str] = None) -> dict:
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}}
    if lora:
        prompt["2"] = {"class_type": "LoraLoader", "inputs": {"lora_name": lora, "model": ["1", 0]}}
    return prompt


def make_queue(tmp_path, runners, **options) -> PromptQueue:
    store = QueueStore(tmp_path / f"q{time.monotonic_ns()}.sqlite3")
    return PromptQueue(executor=None, store=store, runners=runners, **options)


def wait_done(queue: PromptQueue, prompt_ids: list[str], timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = queue.store.history()
        if all(prompt_id in history for prompt_id in prompt_ids):
            return history
        time.sleep(0.01)
    raise AssertionError(f"not all of {prompt_ids} finished")


def test_model_files_of_a_prompt_are_its_loaders_files():
    assert model_files_of(prompt_for("a.safetensors", "style.safetensors")) == {"a.safetensors", "style.safetensors"}
    assert model_files_of({"1": {"class_type": "X", "inputs": {"text": "a.safetensors", "name": 3}}}) == frozenset()


def test_an_idle_worker_holding_the_checkpoint_gets_the_prompt(tmp_path):
    for attempt in range(6):  # both idle, each time: never left to which thread wakes first
        holder = FakeRunner("holder", frozenset({"a.safetensors"}))
        other = FakeRunner("other")
        queue = make_queue(tmp_path, [other, holder])
        first = queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id
        second = queue.put(prompt_for("b.safetensors"), {}, ["2"]).prompt_id
        queue.start()
        history = wait_done(queue, [first, second])
        queue.stop()
        assert history[first]["worker"] == "holder" and history[second]["worker"] == "other", attempt


def test_prompts_run_side_by_side_and_interrupt_reaches_each(tmp_path):
    gate = threading.Event()
    runners = [FakeRunner("w1", gate=gate), FakeRunner("w2", gate=gate)]
    queue = make_queue(tmp_path, runners)
    ids = [queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id for _ in range(2)]
    queue.start()
    deadline = time.monotonic() + 5
    while len(queue.snapshot()[0]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert {w["prompt_id"] for w in queue.workers()} == set(ids) and queue.remaining() == 2
    assert queue.interrupt()  # no id: every running prompt
    history = wait_done(queue, ids)
    queue.stop()
    assert all(r.interrupted.is_set() for r in runners)
    assert {history[i]["worker"] for i in ids} == {"w1", "w2"}


def test_a_prompt_whose_worker_was_lost_runs_again_with_a_note(tmp_path):
    flaky = FakeRunner("flaky", lose=1)
    queue = make_queue(tmp_path, [flaky])
    prompt_id = queue.put(prompt_for("a.safetensors"), {"client_id": "c"}, ["2"]).prompt_id
    events = []
    queue.listener = lambda kind, data, client: events.append(kind)
    queue.start()
    entry = wait_done(queue, [prompt_id])[prompt_id]
    queue.stop()
    assert entry["status"]["status_str"] == "success" and flaky.ran == [prompt_id]
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert kinds[0] == "worker_lost" and entry["status"]["messages"][0][1]["reason"] == "its process died"
    assert events.count("execution_start") == 2 and events.count("execution_success") == 1


def test_retries_are_bounded_and_the_prompt_fails_with_every_loss_noted(tmp_path):
    doomed = FakeRunner("doomed", lose=10)
    queue = make_queue(tmp_path, [doomed], worker_retries=2)
    prompt_id = queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id
    queue.start()
    entry = wait_done(queue, [prompt_id])[prompt_id]
    queue.stop()
    assert entry["status"]["status_str"] == "error" and doomed.lose == 7
    messages = entry["status"]["messages"]
    assert [kind for kind, _ in messages].count("worker_lost") == 3
    error = next(data for kind, data in messages if kind == "execution_error")
    assert error["exception_type"] == "executor.runners.WorkerLost" and "3 tries" in error["exception_message"]


def test_a_worker_not_ready_gets_nothing_until_it_is_back(tmp_path):
    lost = FakeRunner("lost")
    lost.is_ready = False
    queue = make_queue(tmp_path, [lost])
    prompt_id = queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id
    queue.start()
    time.sleep(0.3)
    assert lost.ran == [] and queue.remaining() == 1
    lost.is_ready = True  # it rejoins
    wait_done(queue, [prompt_id], timeout=5)
    queue.stop()
    assert lost.ran == [prompt_id]


def test_a_worker_holding_nothing_is_not_starved_by_one_holding_everything(tmp_path):
    gate = threading.Event()
    holder = FakeRunner("holder", frozenset({"a.safetensors"}), gate=gate)
    other = FakeRunner("other", gate=gate)
    queue = make_queue(tmp_path, [holder, other])
    ids = [queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id for _ in range(4)]
    queue.start()
    deadline = time.monotonic() + 5
    while len(queue.snapshot()[0]) < 2:  # the holder took the first; the other, the second
        assert time.monotonic() < deadline, queue.workers()
        time.sleep(0.01)
    gate.set()
    wait_done(queue, ids)
    queue.stop()
    assert holder.ran and other.ran


def test_a_prompt_stopped_while_its_worker_was_lost_ends_interrupted_not_failed(tmp_path):
    class LostWhenInterrupted(FakeRunner):
        def run(self, item, on_event, output_files):
            on_event("execution_start", {"prompt_id": item.prompt_id})
            self.interrupted.wait(5)
            raise WorkerLost(self.name, "its machine left the cluster")

    runner = LostWhenInterrupted("w1")
    queue = make_queue(tmp_path, [runner])
    prompt_id = queue.put(prompt_for("a.safetensors"), {}, ["2"]).prompt_id
    queue.start()
    deadline = time.monotonic() + 5
    while not queue.snapshot()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert queue.interrupt(prompt_id)
    entry = wait_done(queue, [prompt_id])[prompt_id]
    queue.stop()
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert kinds == ["worker_lost", "execution_interrupted"] and queue.remaining() == 0
