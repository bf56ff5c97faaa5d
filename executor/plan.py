"""Execution plans: what to run and in which order, remembered for workflows seen before.

Queuing the same workflow again (or with only constants changed elsewhere) is the
common case in an editor; remembering the parsed, validated and ordered plan makes a
fully cached run cost little more than one dictionary lookup per node.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional

from nodes.registry import Node, NodeRegistry

from .graph import Link, WorkflowFormatError, WorkflowGraph, parse_workflow
from .json_pieces import dumps_in_pieces
from .validation import ValidationResult, validate_workflow


@dataclass
class ExecutionPlan:
    workflow: Optional[WorkflowGraph]
    checked: ValidationResult
    parents: dict[str, list[str]] = field(default_factory=dict)  # needed node -> distinct parents
    consumers: dict[str, int] = field(default_factory=dict)  # needed node -> distinct consumers
    fingerprinted: bool = False  # some node's key depends on the outside world
    keys: Optional[dict[str, str]] = None  # remembered keys when nothing is fingerprinted
    lazy: dict[str, frozenset] = field(default_factory=dict)  # node -> its lazy inputs (only nodes with some)


def prompt_digest(prompt: Any) -> Optional[str]:
    try:
        text = dumps_in_pieces(prompt, sort_keys=True, separators=(",", ":"))  # in pieces: see json_pieces
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def build_plan(prompt: Any, registry: NodeRegistry, folders: Any) -> ExecutionPlan:
    try:
        workflow = parse_workflow(prompt)
    except WorkflowFormatError as exc:
        error = {"type": "invalid_prompt", "message": str(exc), "details": "", "extra_info": {}}
        return ExecutionPlan(None, ValidationResult(error, {}, []))
    checked = validate_workflow(workflow, registry, folders)
    plan = ExecutionPlan(workflow, checked)
    for node_id in checked.order:
        node = workflow.nodes[node_id]
        cls = registry.get(node.class_type)
        parents = list(dict.fromkeys(_used_links(node, cls, workflow)))
        plan.parents[node_id] = parents
        plan.consumers.setdefault(node_id, 0)
        for parent in parents:
            plan.consumers[parent] = plan.consumers.get(parent, 0) + 1
        if cls is None:
            continue
        if cls.fingerprint.__func__ is not Node.fingerprint.__func__:
            plan.fingerprinted = True
        lazy = cls.lazy_inputs()
        if lazy:
            plan.lazy[node_id] = lazy
    return plan


def _used_links(node, cls, workflow: WorkflowGraph):
    """The nodes whose outputs this node reads: its declared inputs' links (and any link,
    for a node that takes undeclared inputs) to nodes that exist."""
    for name, value in node.inputs.items():
        if isinstance(value, Link) and value.node in workflow.nodes:
            if cls is None or cls.ACCEPTS_EXTRA_LINKS or cls.input_named(name) is not None:
                yield value.node


class PlanMemo:
    """A small LRU of plans by workflow content. Plans of invalid workflows are not kept,
    so a fixed folder (a model file added) is seen at the next validation.

    Thread-safe: the server validates on request threads while the queue worker runs."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._plans: "OrderedDict[str, ExecutionPlan]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, prompt: Any, registry: NodeRegistry, folders: Any) -> ExecutionPlan:
        digest = prompt_digest(prompt)
        if digest is not None:
            with self._lock:
                found = self._plans.get(digest)
                if found is not None:
                    self._plans.move_to_end(digest)
                    return found
        plan = build_plan(prompt, registry, folders)
        if digest is not None and plan.checked.ok and not plan.checked.node_errors:
            with self._lock:
                self._plans[digest] = plan
                while len(self._plans) > self.size:
                    self._plans.popitem(last=False)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
