"""Validate a parsed workflow before anything runs, collecting every problem by node id.

The result has ComfyUI's `node_errors` shape so existing clients understand it. Nothing
here recurses: a 10,000-node chain validates in linear time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx

from nodes.registry import Node, NodeRegistry
from nodes.spec import ANY_TYPE, Input, InputValueError

from .graph import Link, WorkflowGraph


@dataclass
class ValidationResult:
    error: Optional[dict]  # top-level error, None when at least one output can run
    node_errors: dict[str, dict]
    outputs: list[str]  # output nodes that passed and will run
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # coerced inputs per node
    order: list[str] = field(default_factory=list)  # needed nodes in dependency order

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_response(self) -> dict:
        """The 400 body of POST /prompt."""
        return {"error": self.error, "node_errors": self.node_errors}


def _problem(error_type: str, message: str, details: str = "", **extra: Any) -> dict:
    return {"type": error_type, "message": message, "details": details, "extra_info": extra}


CYCLE_NAMED = 10  # members named in each cycle message: the answer stays linear in the cycle's length


def _cycle_members(component: set) -> str:
    """The cycle's first members by id, and how many more there are."""
    names = sorted(component, key=lambda n: (len(n), n))
    shown = ", ".join(names[:CYCLE_NAMED])
    return shown if len(names) <= CYCLE_NAMED else f"{shown} and {len(names) - CYCLE_NAMED} more"


MATCH_TYPE = "COMFY_MATCHTYPE_V3"  # a schema-API type that takes whatever is linked (the editor checks it)


def types_match(produced: Any, wanted: Any) -> bool:
    """ComfyUI's rule: equal (a type may redefine equality to accept anything), `*` on either
    side, or comma-separated unions that share a member. A list of choices feeds a combo."""
    if not produced != wanted:
        return True
    if isinstance(produced, list) or isinstance(wanted, list):
        return _combo_kind(produced) and _combo_kind(wanted)
    if not isinstance(produced, str) or not isinstance(wanted, str):
        return False
    if ANY_TYPE in (produced, wanted) or MATCH_TYPE in (produced, wanted):
        return True
    produced_set = {t.strip() for t in produced.split(",")}
    wanted_set = {t.strip() for t in wanted.split(",")}
    return bool(produced_set & wanted_set)


def _combo_kind(kind: Any) -> bool:
    return isinstance(kind, list) or kind in ("COMBO", ANY_TYPE)


def validate_workflow(workflow: WorkflowGraph, registry: NodeRegistry, folders: Any = None) -> ValidationResult:
    """Check classes, links, types, values and cycles; decide which outputs may run."""
    problems: dict[str, list[dict]] = {}
    values: dict[str, dict[str, Any]] = {}

    def add(node_id: str, problem: dict) -> None:
        problems.setdefault(node_id, []).append(problem)

    for node_id, fault in workflow.faults.items():
        add(node_id, _problem("invalid_prompt", fault, f"Node ID '#{node_id}'"))
    for node_id, node in workflow.nodes.items():
        cls = registry.get(node.class_type) if isinstance(node.class_type, str) else None
        if cls is None and node_id not in workflow.faults:
            add(
                node_id,
                _problem(
                    "invalid_prompt",
                    f"Cannot execute because node {node.class_type} does not exist.",
                    f"Node ID '#{node_id}'",
                ),
            )

    outputs = [
        node_id
        for node_id, node in workflow.nodes.items()
        if isinstance(node.class_type, str) and (cls := registry.get(node.class_type)) and cls.OUTPUT_NODE
    ]  # a faulty output node stays one: it is reported, and its failure taints only itself
    if not outputs:
        error = _problem("prompt_no_outputs", "Prompt has no outputs", "")
        return ValidationResult(error, _node_errors(workflow, problems, {}), [], values)

    needed = ancestors_of(workflow.graph, outputs)
    order: list[str] = []
    try:
        order = [n for n in nx.topological_sort(workflow.graph) if n in needed]
    except nx.NetworkXUnfeasible:
        sub = workflow.graph.subgraph(needed)
        cyclic = False
        for component in nx.strongly_connected_components(sub):
            if len(component) > 1 or any(sub.has_edge(n, n) for n in component):
                cyclic = True
                members = _cycle_members(component)  # reported once, on its first member
                first = min(component, key=lambda n: (len(n), n))
                add(first, _problem("dependency_cycle", f"Node is part of a cycle of {len(component)} nodes "
                                    f"({members})", members, cycle_size=len(component)))
        if not cyclic:  # the cycle lies among nodes no output needs
            order = list(nx.topological_sort(sub))

    for node_id in order or needed:
        node = workflow.nodes[node_id]
        cls = registry.get(node.class_type) if isinstance(node.class_type, str) else None
        if cls is None or node_id in workflow.faults:
            continue
        values[node_id] = _check_inputs(node_id, node.inputs, cls, workflow, registry, folders, add)
        if cls.validate_values.__func__ is not Node.validate_values.__func__:
            _custom_checks(node_id, node.inputs, cls, values[node_id], workflow, registry, add)

    bad = set(problems) & needed
    dependents = _outputs_downstream(workflow.graph, bad, outputs) if bad else {}
    tainted = {o for outs in dependents.values() for o in outs}
    runnable = [o for o in outputs if o not in tainted]
    if len(runnable) != len(outputs):
        keep = ancestors_of(workflow.graph, runnable)
        order = [n for n in order if n in keep]
    node_errors = _node_errors(workflow, problems, dependents)
    error = None
    if node_errors and not runnable:
        error = _problem("prompt_outputs_failed_validation", "Prompt outputs failed validation", "")
    return ValidationResult(error, node_errors, runnable, values, order)


def _outputs_downstream(graph: nx.DiGraph, sources, outputs: list[str]) -> dict[str, list[str]]:
    """For each source node, the outputs it feeds (itself included when it is one). One
    pass over the graph of its strongly connected parts, with the outputs as bits, so
    thousands of faulty nodes (a long cycle) cost no more than a few."""
    parts = nx.condensation(graph)
    part_of = parts.graph["mapping"]
    bits = [0] * len(parts)
    for i, output in enumerate(outputs):
        bits[part_of[output]] |= 1 << i
    for part in reversed(list(nx.topological_sort(parts))):
        for after in parts.successors(part):
            bits[part] |= bits[after]
    out = {}
    for node_id in sources:
        mask = bits[part_of[node_id]]
        out[node_id] = sorted(o for i, o in enumerate(outputs) if mask >> i & 1)
    return out


def ancestors_of(graph: nx.DiGraph, targets: list[str]) -> set[str]:
    """The targets and everything they depend on (one breadth-first walk for all)."""
    seen = set(targets)
    stack = list(targets)
    pred = graph.pred
    while stack:
        for parent in pred[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _check_inputs(node_id, inputs, cls, workflow, registry, folders, add) -> dict[str, Any]:
    coerced: dict[str, Any] = {}
    if cls.ACCEPTS_EXTRA_LINKS:
        for name, value in inputs.items():
            if isinstance(value, Link) and cls.input_named(name) is None:
                _check_link(node_id, Input(name=name), value, workflow, registry, add)
    for spec in cls.input_specs(folders):
        if spec.name not in inputs:
            if spec.added_later and spec.is_widget:
                coerced[spec.name] = getattr(spec, "default", None)
            elif not spec.optional:
                add(
                    node_id,
                    _problem(
                        "required_input_missing",
                        "Required input is missing",
                        f"{spec.name}",
                        input_name=spec.name,
                    ),
                )
            continue
        value = inputs[spec.name]
        if isinstance(value, Link):
            _check_link(node_id, spec, value, workflow, registry, add)
            continue
        try:
            coerced[spec.name] = spec.coerce(value, folders)
        except InputValueError as exc:
            add(node_id, _problem(exc.error_type, exc.message, exc.details or spec.name, input_name=spec.name,
                                  received_value=_short(value)))
        except Exception as exc:  # a custom descriptor failing must not crash validation
            add(node_id, _problem("exception_during_validation", f"{spec.name}: {exc}", spec.name,
                                  input_name=spec.name))
    return coerced


def _linked_type(link: Link, workflow: WorkflowGraph, registry) -> Any:
    """The type a link carries, or None when its source is missing or unknown."""
    source = workflow.nodes.get(link.node)
    source_cls = registry.get(source.class_type) if source is not None and isinstance(source.class_type, str) else None
    if source_cls is None or not 0 <= link.slot < len(source_cls.OUTPUTS):
        return None
    return source_cls.OUTPUTS[link.slot].type


def _check_link(node_id, spec, link: Link, workflow: WorkflowGraph, registry, add) -> None:
    source = workflow.nodes.get(link.node)
    if source is None:
        add(node_id, _problem("bad_linked_input", f"Input '{spec.name}' is linked to node {link.node}, "
                              "which does not exist", spec.name, input_name=spec.name))
        return
    source_cls = registry.get(source.class_type) if isinstance(source.class_type, str) else None
    if source_cls is None:
        return  # reported on the source node itself
    if not 0 <= link.slot < len(source_cls.OUTPUTS):
        add(node_id, _problem("bad_linked_input", f"Input '{spec.name}' is linked to output {link.slot} of "
                              f"node {link.node} ({source.class_type}), which has {len(source_cls.OUTPUTS)} outputs",
                              spec.name, input_name=spec.name))
        return
    produced = source_cls.OUTPUTS[link.slot].type
    wanted = spec.type
    if spec.any_link_type:
        return
    if not types_match(produced, wanted):
        add(node_id, _problem("return_type_mismatch", f"Return type mismatch between linked nodes: {spec.name}, "
                              f"received_type({produced}) mismatch input_type({wanted})", spec.name,
                              input_name=spec.name, received_type=produced, input_type=wanted))


def _custom_checks(node_id, inputs, cls, constants, workflow, registry, add) -> None:
    """The node's own validation (a pack's VALIDATE_INPUTS): its complaints, or its crash."""
    linked = {name: _linked_type(value, workflow, registry) for name, value in inputs.items() if isinstance(value, Link)}
    try:
        complaints = cls.validate_values(dict(constants), linked)
    except Exception as exc:
        add(node_id, _problem("exception_during_validation", f"Exception when validating node: {exc}",
                              f"{type(exc).__name__}: {exc}"))
        return
    for name, details in complaints:
        add(node_id, _problem("custom_validation_failed", "Custom validation failed for node", details,
                              input_name=name))


def _node_errors(workflow: WorkflowGraph, problems: dict, dependents: dict) -> dict[str, dict]:
    return {
        node_id: {
            "errors": errors,
            "dependent_outputs": dependents.get(node_id, []),
            "class_type": workflow.nodes[node_id].class_type,
        }
        for node_id, errors in problems.items()
    }


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 200 else text[:200] + "..."
