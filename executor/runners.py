"""What runs a queued prompt: the in-process executor by default, or a remote worker.

The prompt queue gives each runner a thread of its own and hands it one prompt at a time.
A runner that loses its worker mid-prompt (the process died, it stopped answering) raises
WorkerLost; the queue then runs the prompt again elsewhere, a bounded number of times.
"""
from __future__ import annotations

import gc
import os
import re
import sys
from typing import Any, Callable, Protocol

from .run import Executor, RunResult

EventCallback = Callable[[str, dict], None]

# Inputs naming a model file: ckpt_name, unet_name, lora_name, control_net_name, ...
_MODEL_INPUT = re.compile(r"(^|_)name\d*$")
_MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


class WorkerLost(Exception):
    """The worker running a prompt went away; the prompt itself may be fine."""

    def __init__(self, worker: str, reason: str) -> None:
        super().__init__(f"worker {worker}: {reason}")
        self.worker = worker
        self.reason = reason


class Runner(Protocol):
    """One place prompts run, with its own cache and loaded models."""

    name: str

    def run(self, item: Any, on_event: EventCallback, output_files: Any) -> RunResult:
        """Run a queued prompt; raises WorkflowInvalid, or WorkerLost when the worker went away."""

    def interrupt(self) -> None:
        """Stop the prompt running now (any thread)."""

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached outputs and models between prompts."""

    def ready(self) -> bool:
        """Whether it can take a prompt now (a restarting worker cannot); may wait briefly."""

    def models(self) -> frozenset[str]:
        """Model files it holds loaded, for sending prompts where their models already are."""

    def describe(self) -> dict:
        """Its entry in /system_stats' `workers`."""


def model_files_of(prompt: dict) -> frozenset[str]:
    """The model files a prompt's loaders name (checkpoints, UNets, LoRAs, ControlNets...)."""
    found = set()
    for node in prompt.values() if isinstance(prompt, dict) else ():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for key, value in inputs.items():
            if (isinstance(value, str) and _MODEL_INPUT.search(key)
                    and value.lower().endswith(_MODEL_SUFFIXES)):
                found.add(value)
    return frozenset(found)


class LocalRunner:
    """The executor in this process: the single default worker."""

    name = "local"

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def run(self, item: Any, on_event: EventCallback, output_files: Any) -> RunResult:
        return self.executor.run(
            item.prompt,
            prompt_id=item.prompt_id,
            on_event=on_event,
            extra_data=item.extra_data,
            outputs=item.outputs or None,
            output_files=output_files,
        )

    def interrupt(self) -> None:
        self.executor.interrupt()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        free_executor(self.executor, unload_models, free_memory)

    def ready(self) -> bool:
        return True

    def models(self) -> frozenset[str]:
        return frozenset()

    def describe(self) -> dict:
        return {"id": self.name, "pid": os.getpid(), "state": "ready"}


def free_executor(executor: Executor, unload_models: bool, free_memory: bool) -> None:
    """/free for one executor: unload its models and drop its cache."""
    if unload_models:
        from diffusion.memory_manager import MANAGER

        MANAGER.unload_all()
    if unload_models or free_memory:
        executor.cache.clear()
        executor.plans.clear()
        gc.collect()
        torch = sys.modules.get("torch")  # only if something already loaded it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def held_model_files(executor: Executor, used: dict[str, str]) -> frozenset[str]:
    """Of the model files a runner's prompts used (file -> the loader's cache key), those
    whose loader output is still cached, i.e. still loaded."""
    for name in [name for name, key in used.items() if key not in executor.cache]:
        del used[name]
    return frozenset(used)


def remember_model_files(executor: Executor, prompt: dict, used: dict[str, str]) -> None:
    """After a run: which cache entry holds each model file the prompt's loaders named."""
    keys = executor.last_keys
    for node_id, node in prompt.items():
        if node_id in keys and isinstance(node, dict):
            for name in model_files_of({node_id: node}):
                used[name] = keys[node_id]
