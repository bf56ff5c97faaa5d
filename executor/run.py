"""Run a validated workflow: pull from the output nodes, in dependency order, with caching.

Progress and results leave as events named like ComfyUI's WebSocket messages, so the CLI
and the server can show them without translating.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


from nodes.context import ExecutionInterrupted, NodeContext
from nodes.folders import Folders
from nodes.registry import REGISTRY, NodeRegistry
from nodes.spec import NodeOutput

from .cache import OutputCache, compute_keys
from .graph import Link, WorkflowGraph
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
    ) -> RunResult:
        """Run the outputs (all valid ones by default) of `prompt`; raises WorkflowInvalid."""
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
            if kind not in ("progress", "preview", "executing"):
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

        emit("execution_start", {})
        cached_now = [n for n in order if keys[n] in self.cache]
        emit("execution_cached", {"nodes": cached_now})

        values: dict[str, tuple] = {}
        remaining_uses = dict(plan.consumers)
        try:
            for node_id in order:
                self._check_interrupt(node_id)
                entry = self.cache.get(keys[node_id])
                if entry is not None:
                    values[node_id] = entry.outputs
                    result.cached.append(node_id)
                    if entry.ui:
                        result.outputs[node_id] = entry.ui
                else:
                    self._run_node(workflow, node_id, checked, values, keys, extra, prompt, emit, result)
                for parent in plan.parents[node_id]:
                    remaining_uses[parent] -= 1
                    if remaining_uses[parent] == 0:
                        values.pop(parent, None)  # consumers done; the cache keeps what it can
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
                "exception_message": str(exc.cause),
                "exception_type": f"{type(exc.cause).__module__}.{type(exc.cause).__name__}",
                "traceback": traceback.format_exception(type(exc.cause), exc.cause, exc.cause.__traceback__),
                "current_inputs": exc.inputs,
                "current_outputs": list(result.outputs),
            }
            emit("execution_error", result.error)
        else:
            emit("execution_success", {})
        finally:
            self._current = None
            if on_event is not None:
                on_event("executing", {"node": None, "display_node": None, "prompt_id": prompt_id})
        result.seconds = time.perf_counter() - started
        return result

    _current: Optional[str] = None

    def _check_interrupt(self, node_id: str) -> None:
        self._current = node_id
        if self.interrupt_event.is_set():
            raise ExecutionInterrupted("interrupted")

    def _run_node(self, workflow, node_id, checked, values, keys, extra, prompt, emit, result) -> None:
        node = workflow.nodes[node_id]
        cls = self.registry.get(node.class_type)
        kwargs = dict(checked.values.get(node_id, {}))
        for name, value in node.inputs.items():
            if isinstance(value, Link) and cls.input(name) is not None:
                kwargs[name] = values[value.node][value.slot]
        emit_progress = _progress_emitter(node_id, emit)
        ctx = NodeContext(
            folders=self.folders,
            node_id=node_id,
            prompt=prompt,
            extra_pnginfo=extra.get("extra_pnginfo"),
            on_progress=emit_progress,
            is_interrupted=self.interrupt_event.is_set,
            want_previews=bool(extra.get("preview_method")) and extra.get("preview_method") != "none",
        )
        emit("executing", {"node": node_id, "display_node": node_id})
        try:
            returned = cls().execute(ctx, **kwargs)
        except ExecutionInterrupted:
            raise
        except Exception as exc:
            raise NodeError(node_id, node.class_type, exc, {k: summarize(v) for k, v in kwargs.items()}) from exc
        outputs, ui = (returned.result, returned.ui) if isinstance(returned, NodeOutput) else (returned, None)
        outputs = tuple(outputs or ())
        if len(outputs) != len(cls.OUTPUTS):
            error = TypeError(f"returned {len(outputs)} values for {len(cls.OUTPUTS)} outputs")
            raise NodeError(node_id, node.class_type, error, {k: summarize(v) for k, v in kwargs.items()})
        values[node_id] = outputs
        self.cache.put(keys[node_id], outputs, ui)
        result.executed.append(node_id)
        if ui:
            result.outputs[node_id] = ui
            emit("executed", {"node": node_id, "display_node": node_id, "output": ui})


def _progress_emitter(node_id: str, emit: Callable[[str, dict], None]):
    def report(value: int, total: int, preview: Any = None) -> None:
        emit("progress", {"value": value, "max": total, "node": node_id})
        if preview is not None:
            emit("preview", {"node": node_id, "image": preview})

    return report

