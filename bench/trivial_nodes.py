"""Trivial integer nodes in their own registry, for executor tests and overhead benchmarks."""
from __future__ import annotations

from nodes.registry import Node, NodeRegistry, register_node
from nodes.spec import Combo, Float, Int, NodeOutput, Output, Socket, String

TRIVIAL = NodeRegistry()
CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@register_node("IntConst", category="test", registry=TRIVIAL)
class IntConst(Node):
    """A constant."""

    value = Int(default=0, min=-(10**9), max=10**9)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, value: int) -> tuple:
        _count("IntConst")
        return (value,)


@register_node("AddOne", category="test", registry=TRIVIAL)
class AddOne(Node):
    """Adds one; optionally fails or waits for interruption, for tests."""

    a = Socket("INT")
    fail = Combo(choices=["no", "yes"], default="no", optional=True)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, a: int, fail: str = "no") -> tuple:
        _count("AddOne")
        if fail == "yes":
            raise RuntimeError("asked to fail")
        return (a + 1,)


@register_node("Scale", category="test", registry=TRIVIAL)
class Scale(Node):
    """Multiplies by a float within bounds; has a string and a combo for validation tests."""

    a = Socket("INT")
    factor = Float(default=1.0, min=0.0, max=10.0)
    label = String(default="")
    mode = Combo(choices=["round", "floor"], default="round")
    OUTPUTS = (Output("INT", "INT"), Output("STRING", "STRING"))

    def execute(self, ctx, a: int, factor: float, label: str, mode: str) -> tuple:
        _count("Scale")
        value = a * factor
        return (round(value) if mode == "round" else int(value // 1), label)


@register_node("SlowSteps", category="test", registry=TRIVIAL)
class SlowSteps(Node):
    """Reports `steps` progress steps, checking for interruption at each (like a sampler)."""

    a = Socket("INT")
    steps = Int(default=5, min=1, max=1000)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, a: int, steps: int) -> tuple:
        _count("SlowSteps")
        for step in range(steps):
            ctx.check_interrupted()
            ctx.report_progress(step + 1, steps)
        return (a,)


@register_node("IntSink", category="test", output_node=True, registry=TRIVIAL)
class IntSink(Node):
    """An output node that shows the value."""

    a = Socket("INT")
    OUTPUTS = ()

    def execute(self, ctx, a: int) -> NodeOutput:
        _count("IntSink")
        return NodeOutput((), {"value": [a]})


def chain_workflow(length: int) -> dict:
    """const -> add-one x length -> sink."""
    prompt = {"0": {"class_type": "IntConst", "inputs": {"value": 0}}}
    for i in range(1, length + 1):
        prompt[str(i)] = {"class_type": "AddOne", "inputs": {"a": [str(i - 1), 0]}}
    prompt[str(length + 1)] = {"class_type": "IntSink", "inputs": {"a": [str(length), 0]}}
    return prompt


def wide_workflow(branches: int) -> dict:
    """`branches` independent const -> add-one -> sink branches (3 nodes each)."""
    prompt = {}
    for b in range(branches):
        prompt[f"{b}c"] = {"class_type": "IntConst", "inputs": {"value": b}}
        prompt[f"{b}a"] = {"class_type": "AddOne", "inputs": {"a": [f"{b}c", 0]}}
        prompt[f"{b}s"] = {"class_type": "IntSink", "inputs": {"a": [f"{b}a", 0]}}
    return prompt
