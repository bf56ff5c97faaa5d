"""API-format workflow -> networkx DiGraph.

An input value is a link when it is `[node_id, output_index]`; everything else is a
constant. Edges point from the producing node to the consumer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx


class WorkflowFormatError(ValueError):
    """The workflow is not an API-format workflow at all (not per-node problems)."""


@dataclass(frozen=True)
class Link:
    node: str
    slot: int


@dataclass
class WorkflowNode:
    node_id: str
    class_type: Any
    inputs: dict[str, Any]  # constants as given, links as Link
    title: str = ""


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


@dataclass
class WorkflowGraph:
    nodes: dict[str, WorkflowNode]
    graph: nx.DiGraph
    faults: dict[str, str] = field(default_factory=dict)  # node id -> why its body is unusable

    def links_into(self, node_id: str) -> dict[str, Link]:
        return {name: v for name, v in self.nodes[node_id].inputs.items() if isinstance(v, Link)}


def parse_workflow(prompt: Any) -> WorkflowGraph:
    """Parse the JSON object; raises WorkflowFormatError when it is no workflow at all.
    A node whose body is malformed is kept with a fault, so it is reported by id."""
    if not isinstance(prompt, dict):
        raise WorkflowFormatError("a workflow must be a JSON object mapping node ids to nodes")
    if "nodes" in prompt and isinstance(prompt.get("nodes"), list):
        raise WorkflowFormatError(
            "this is a UI-format (editor) workflow; queue the API format (export it as API, or use a PNG's prompt)"
        )
    nodes: dict[str, WorkflowNode] = {}
    graph = nx.DiGraph()
    faults: dict[str, str] = {}
    for raw_id, body in prompt.items():
        node_id = str(raw_id)
        graph.add_node(node_id)
        if not isinstance(body, dict):
            faults[node_id] = "a node must be an object with class_type and inputs"
            nodes[node_id] = WorkflowNode(node_id, None, {})
            continue
        inputs = body.get("inputs", {})
        if not isinstance(inputs, dict):
            faults[node_id] = "the node's 'inputs' must be an object mapping input names to values or links"
            inputs = {}
        parsed: dict[str, Any] = {}
        for name, value in inputs.items():
            parsed[name] = Link(str(value[0]), value[1]) if is_link(value) else _unwrap(value)
        meta = body.get("_meta") if isinstance(body.get("_meta"), dict) else {}
        nodes[node_id] = WorkflowNode(node_id, body.get("class_type"), parsed, str(meta.get("title", "")))
    for node in nodes.values():
        for value in node.inputs.values():
            if isinstance(value, Link) and value.node in nodes:
                graph.add_edge(value.node, node.node_id)
    return WorkflowGraph(nodes, graph, faults)
