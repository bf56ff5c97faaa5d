"""Run a validated workflow: pull from the output nodes, in dependency order, with caching.

Progress and results leave as events named like ComfyUI's WebSocket messages, so the CLI
and the server can show them without translating.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional


from nodes.context import ExecutionInterrupted, NodeContext
from nodes.folders import Folders
from nodes.registry import REGISTRY, NodeRegistry
from nodes.spec import ExecutionBlocker

from .cache import INTERMEDIATE_TYPES, OutputCache, compute_keys
from .error_paths import path_roots, without_paths
from .graph import Link, WorkflowGraph
from .node_call import call_node, input_runs, plain_call, unpack
from .plan import PlanMemo
from .validation import ValidationResult, ancestors_of

EventSink = Callable[[str, dict], None]


class WorkflowInvalid(Exception):
    """Raised by `Executor.run` for a workflow that fails validation entirely."""

    def __init__(self, result: ValidationResult) -> None:
        super().__init__(result.error["message"] if result.error else "invalid workflow")
        self.result = result


@dataclass
class RunResult:
    status: str  # "success", "error" or "interrupted"
    outputs: dict[str, dict] = field(default_factory=dict)  # node id -> UI output (images, ...)
    executed: list[str] = field(default_factory=list)  # node ids that ran
    cached: list[str] = field(default_factory=list)  # node ids served from the cache
    error: Optional[dict] = None  # the execution_error / execution_interrupted payload
    messages: list[tuple[str, dict]] = field(default_factory=list)
    seconds: float = 0.0


class NodeError(Exception):
    """A node failed; carries the node, its class and a summary of its inputs."""

    def __init__(self, node_id: str, class_type: str, cause: BaseException, inputs: dict) -> None:
        super().__init__(f"{class_type} (node {node_id}): {type(cause).__name__}: {cause}")
        self.node_id = node_id
        self.class_type = class_type
        self.cause = cause
        self.inputs = inputs


def summarize(value: Any) -> str:
    """A short text for an input value, for error reports (never the tensor itself)."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)}"
    if isinstance(value, dict) and "samples" in value:
        return f"LATENT{tuple(value['samples'].shape)}"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class Executor:
    """Validates and runs API-format workflows, keeping a cache between runs."""

    def __init__(
        self,
        folders: Folders,
        registry: NodeRegistry = REGISTRY,
        cache: Optional[OutputCache] = None,
    ) -> None:
        self.folders = folders
        self.registry = registry
        self.cache = cache if cache is not None else OutputCache()
        self.interrupt_event = threading.Event()
        self.plans = PlanMemo()
        base = Path(folders.input).parent  # errors name files relative to the app, code and packages
        models = Path(folders.models)
        self.path_roots = path_roots([(base, ""), (models, "" if models.parent == base else "models/")])

    def validate(self, prompt: Any) -> tuple[Optional[WorkflowGraph], ValidationResult]:
        """Parse and validate; a malformed document yields a top-level invalid_prompt error."""
        plan = self.plans.get(prompt, self.registry, self.folders)
        return plan.workflow, plan.checked

    def interrupt(self) -> None:
        self.interrupt_event.set()

    def run(
        self,
        prompt: Any,
        *,
        prompt_id: str = "",
        on_event: Optional[EventSink] = None,
        extra_data: Optional[dict] = None,
        outputs: Optional[list[str]] = None,
        output_files: Any = None,
    ) -> RunResult:
        """Run the outputs (all valid ones by default) of `prompt`; raises WorkflowInvalid.
        `output_files` is the prompt's ledger of written files (a crash re-run reuses them)."""
        plan = self.plans.get(prompt, self.registry, self.folders)
        workflow, checked = plan.workflow, plan.checked
        if workflow is None or not checked.ok:
            raise WorkflowInvalid(checked)
        self.interrupt_event.clear()
        started = time.perf_counter()
        result = RunResult(status="success")
        extra = extra_data or {}

        def emit(kind: str, data: dict) -> None:
            payload = {**data, "prompt_id": prompt_id}
            if kind not in ("progress", "preview", "image", "executing"):
                result.messages.append((kind, {**payload, "timestamp": int(time.time() * 1000)}))
            if on_event is not None:
                on_event(kind, payload)

        order = checked.order
        if outputs is not None:
            wanted = ancestors_of(workflow.graph, [o for o in outputs if o in checked.outputs])
            order = [n for n in order if n in wanted]
        keys = plan.keys
        if keys is None:
            keys = compute_keys(workflow, checked.order, checked.values, self.registry, self.folders)
            if not plan.fingerprinted:
                plan.keys = keys
        self.last_keys = keys  # node id -> cache key of the latest run (which models it holds)

        emit("execution_start", {})
        cached_now = [n for n in order if keys[n] in self.cache]
        emit("execution_cached", {"nodes": cached_now})
        result.cached = cached_now

        run = _Run(self, plan, keys, order, extra, prompt, prompt_id, emit, result)
        run.output_files = output_files
        try:
            output_nodes = set(checked.outputs)
            run.pull([n for n in order if n in output_nodes])
        except ExecutionInterrupted:
            result.status = "interrupted"
            node_id = self._current
            result.error = {
                "node_id": node_id,
                "node_type": workflow.nodes[node_id].class_type if node_id else None,
                "executed": list(result.executed),
            }
            emit("execution_interrupted", result.error)
        except NodeError as exc:
            result.status = "error"
            result.error = {
                "node_id": exc.node_id,
                "node_type": exc.class_type,
                "executed": list(result.executed),
                "exception_message": without_paths(str(exc.cause), self.path_roots),
                "exception_type": f"{type(exc.cause).__module__}.{type(exc.cause).__name__}",
                "traceback": [without_paths(line, self.path_roots) for line in
                              traceback.format_exception(type(exc.cause), exc.cause, exc.cause.__traceback__)],
                "current_inputs": exc.inputs,
                "current_outputs": list(result.outputs),
            }
            emit("execution_error", result.error)
            self._release_intermediates(workflow, keys, result.executed)
        else:
            emit("execution_success", {})
        finally:
            self._current = None
            if on_event is not None:
                on_event("executing", {"node": None, "display_node": None, "prompt_id": prompt_id})
        result.seconds = time.perf_counter() - started
        return result

    _current: Optional[str] = None
    last_keys: dict[str, str] = {}

    def _release_intermediates(self, workflow: WorkflowGraph, keys: dict[str, str], executed: list[str]) -> None:
        """Drop the images and latents a failed prompt computed; its loaded models stay."""
        released = []
        for node_id in executed:
            cls = self.registry.get(workflow.nodes[node_id].class_type)
            types = [out.type for out in cls.OUTPUTS] if cls is not None else []
            if any(isinstance(kind, str) and kind in INTERMEDIATE_TYPES for kind in types):
                released.append(keys[node_id])
        self.cache.discard(released)

    def _check_interrupt(self, node_id: str) -> None:
        self._current = node_id
        if self.interrupt_event.is_set():
            raise ExecutionInterrupted("interrupted")


class _Run:
    """One run's state: pulls the output nodes, running each node once its inputs are
    there. Lazy inputs are computed only when their node asks for them."""

    def __init__(self, executor: Executor, plan, keys, order, extra, prompt, prompt_id, emit, result) -> None:
        self.executor = executor
        self.registry = executor.registry
        self.workflow: WorkflowGraph = plan.workflow
        self.checked: ValidationResult = plan.checked
        self.plan = plan
        self.keys = keys
        self.position = {node_id: i for i, node_id in enumerate(order)}
        self.extra, self.prompt, self.prompt_id = extra, prompt, prompt_id
        self.emit, self.result = emit, result
        self.values: dict[str, tuple] = {}
        self.done: set[str] = set()
        self.remaining_uses = dict(plan.consumers)
        self.requested: dict[str, set[str]] = {}  # node -> lazy inputs it asked for
        self.output_files: Any = None

    def pull(self, targets: list[str]) -> None:
        """Run `targets` and what they need, without recursion (10,000-node chains)."""
        values, done, cache = self.values, self.done, self.executor.cache
        parents_of, lazy_of, position = self.plan.parents, self.plan.lazy, self.position
        keep = set(targets)
        missed: set[str] = set()  # looked up in the cache already: not there
        stack = list(reversed(targets))
        while stack:
            node_id = stack[-1]
            if node_id in done:
                stack.pop()
                continue
            if node_id not in missed:
                self.executor._check_interrupt(node_id)
                entry = cache.get(self.keys[node_id])
                if entry is not None:
                    values[node_id] = entry.outputs
                    done.add(node_id)
                    if entry.ui:
                        self.result.outputs[node_id] = entry.ui
                        # As ComfyUI does: a cached output node still tells the client what it
                        # shows, so a fresh tab re-queueing a finished graph sees its images.
                        self.emit("executed", {"node": node_id, "display_node": node_id, "output": entry.ui})
                    stack.pop()
                    continue
                missed.add(node_id)
            lazy = lazy_of.get(node_id)
            parents = self._wanted_parents(node_id, lazy) if lazy else parents_of[node_id]
            waiting = [p for p in parents if p not in done]
            if waiting:
                stack.extend(sorted(waiting, key=position.__getitem__, reverse=True))
                continue
            if lazy and self._asks_for_more(node_id):
                continue
            self.executor._check_interrupt(node_id)
            self._run_node(node_id)
            done.add(node_id)
            stack.pop()
            for parent in parents_of[node_id]:
                self.remaining_uses[parent] -= 1
                if self.remaining_uses[parent] == 0 and parent not in keep:
                    values.pop(parent, None)  # consumers done; the cache keeps what it can

    def _wanted_parents(self, node_id: str, lazy: frozenset) -> list[str]:
        """The parents to run first: all but lazy inputs the node has not asked for yet."""
        asked = self.requested.get(node_id, set())
        return list(dict.fromkeys(link.node for name, link in self.workflow.links_into(node_id).items()
                                  if name not in lazy or name in asked))

    def _asks_for_more(self, node_id: str) -> bool:
        """Ask the node which lazy inputs it needs; True when it asked for new ones."""
        node = self.workflow.nodes[node_id]
        cls = self.registry.get(node.class_type)
        lazy_links = {n for n in self.plan.lazy[node_id] if isinstance(node.inputs.get(n), Link)}
        asked = self.requested.setdefault(node_id, set())
        inputs = self._inputs(node_id, cls)
        runs = input_runs(cls, inputs)  # asked with the first run's values (lists: their first items)
        try:
            wanted = set(cls().check_lazy_status(self._context(node_id, node), **runs[0]) or []) if runs else set()
        except ExecutionInterrupted:
            raise
        except Exception as exc:
            raise NodeError(node_id, node.class_type, exc, {k: summarize(v) for k, v in inputs.items()}) from exc
        new = (wanted & lazy_links) - asked
        asked.update(new)
        return bool(new)

    def _inputs(self, node_id: str, cls) -> dict[str, Any]:
        node = self.workflow.nodes[node_id]
        inputs = dict(self.checked.values.get(node_id, {}))
        for name, value in node.inputs.items():
            if isinstance(value, Link) and (cls.ACCEPTS_EXTRA_LINKS or cls.input_named(name) is not None):
                produced = self.values.get(value.node)
                inputs[name] = produced[value.slot] if produced is not None else None
        return inputs

    def _context(self, node_id: str, node) -> NodeContext:
        executor, extra = self.executor, self.extra
        return NodeContext(
            folders=executor.folders,
            node_id=node_id,
            prompt=self.prompt,
            extra_pnginfo=extra.get("extra_pnginfo"),
            on_progress=_progress_emitter(node_id, self.emit),
            is_interrupted=executor.interrupt_event.is_set,
            want_previews=bool(extra.get("preview_method")) and extra.get("preview_method") != "none",
            extra_data=extra,
            request_interrupt=executor.interrupt_event.set,
            on_image=lambda image: self.emit("image", {"node": node_id, "image": image}),
            output_files=self.output_files,
        )

    def _run_node(self, node_id: str) -> None:
        node = self.workflow.nodes[node_id]
        cls = self.registry.get(node.class_type)
        inputs = self._inputs(node_id, cls)
        ctx = self._context(node_id, node)
        self.emit("executing", {"node": node_id, "display_node": node_id})

        def call(kwargs: dict) -> Any:
            return cls().execute(ctx, **kwargs)

        def on_blocked(blocker: ExecutionBlocker) -> ExecutionBlocker:
            self.emit("execution_blocked", {"node_id": node_id, "node_type": node.class_type,
                                            "exception_message": f"Execution Blocked: {blocker.message}"})
            return ExecutionBlocker(None)

        from diffusion.interrupts import Interrupted, interruptible
        from diffusion.oom import retry_on_out_of_memory

        what = f"{node.class_type} (node {node_id})"

        try:
            # Long diffusion work inside the node checks the interrupt between its parts.
            with interruptible(self.executor.interrupt_event.is_set):
                if plain_call(cls, inputs):
                    outputs, ui = retry_on_out_of_memory(lambda: unpack(call(inputs), len(cls.OUTPUTS)), what)
                else:
                    outputs, ui = retry_on_out_of_memory(lambda: call_node(cls, inputs, call, on_blocked), what)
        except ExecutionInterrupted:
            raise
        except Interrupted as exc:
            raise ExecutionInterrupted("interrupted") from exc
        except Exception as exc:
            raise NodeError(node_id, node.class_type, exc, {k: summarize(v) for k, v in inputs.items()}) from exc
        self.values[node_id] = outputs
        self.executor.cache.put(self.keys[node_id], outputs, ui)
        self.result.executed.append(node_id)
        if ui:
            self.result.outputs[node_id] = ui
            self.emit("executed", {"node": node_id, "display_node": node_id, "output": ui})


def _progress_emitter(node_id: str, emit: Callable[[str, dict], None]):
    def report(value: int, total: int, preview: Any = None) -> None:
        emit("progress", {"value": value, "max": total, "node": node_id})
        if preview is not None:
            emit("preview", {"node": node_id, "image": preview})

    return report

