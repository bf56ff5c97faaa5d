"""Calling one node: once per item when lists flow in, and not at all behind a blocker.

An output marked `is_list` carries a ValueList. A node that does not take whole lists
(INPUT_IS_LIST) runs once per item of the longest list it receives (shorter lists repeat
their last item), and its outputs become lists of the per-item results; list outputs of
the runs are joined. An ExecutionBlocker among the inputs of a run skips that run and
fills all its outputs with the blocker.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from nodes.registry import Node
from nodes.spec import ExecutionBlocker, NodeOutput


class ValueList(list):
    """A node output that is a list of items: nodes downstream run once per item."""


_SPECIAL = (ValueList, ExecutionBlocker)


def as_items(value: Any) -> list:
    """The items an input value stands for: a ValueList's items, or the value alone."""
    return list(value) if isinstance(value, ValueList) else [value]


def plain_call(node_cls: type[Node], inputs: dict[str, Any]) -> bool:
    """The common case, one run with the values as they are: no lists, no blockers."""
    if node_cls.INPUT_IS_LIST or any(isinstance(v, _SPECIAL) for v in inputs.values()):
        return False
    return not any(out.is_list for out in node_cls.OUTPUTS)


def input_runs(node_cls: type[Node], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The keyword arguments of each run of the node."""
    if node_cls.INPUT_IS_LIST:
        return [{name: as_items(value) for name, value in inputs.items()}]
    lengths = [len(v) for v in inputs.values() if isinstance(v, ValueList)]
    if not lengths:
        return [inputs]
    count = 0 if min(lengths) == 0 else max(lengths)
    return [
        {name: (_item(value, i) if isinstance(value, ValueList) else value) for name, value in inputs.items()}
        for i in range(count)
    ]


def _item(items: list, index: int) -> Any:
    return items[index] if index < len(items) else items[-1]


def blocker_in(run: dict[str, Any], whole_lists: bool) -> Optional[ExecutionBlocker]:
    for value in run.values():
        for item in (value if whole_lists else [value]):
            if isinstance(item, ExecutionBlocker):
                return item
    return None


def unpack(returned: Any, outputs_declared: int) -> tuple[tuple, Optional[dict]]:
    """(output values, UI dict or None) from what `execute` returned."""
    if isinstance(returned, NodeOutput):
        values, ui = tuple(returned.result or ()), returned.ui or None
    else:
        values, ui = tuple(returned or ()), None
    if len(values) != outputs_declared:
        raise TypeError(f"returned {len(values)} values for {outputs_declared} outputs")
    return values, ui


def call_node(
    node_cls: type[Node],
    inputs: dict[str, Any],
    call: Callable[[dict[str, Any]], Any],
    on_blocked: Callable[[ExecutionBlocker], ExecutionBlocker],
) -> tuple[tuple, Optional[dict]]:
    """Run the node over its inputs; returns the merged outputs and UI.

    `call(kwargs)` runs the node once; `on_blocked(blocker)` reports a blocker with a
    message and returns what to pass on."""
    declared = node_cls.OUTPUTS
    runs = input_runs(node_cls, inputs)
    results: list[tuple] = []
    uis: list[dict] = []
    for run in runs:
        blocker = blocker_in(run, node_cls.INPUT_IS_LIST)
        if blocker is not None:
            passed = on_blocked(blocker) if blocker.message is not None else blocker
            results.append(tuple(passed for _ in declared))
            continue
        values, ui = unpack(call(run), len(declared))
        results.append(values)
        if ui:
            uis.append(ui)
    return _merge_outputs(declared, results, len(runs)), _merge_ui(uis)


def _merge_outputs(declared, results: list[tuple], runs: int) -> tuple:
    if runs == 1 and not any(out.is_list for out in declared):
        return results[0]
    merged = []
    for index, out in enumerate(declared):
        if out.is_list:
            joined = ValueList()
            for values in results:
                value = values[index]
                if isinstance(value, ExecutionBlocker):
                    joined.append(value)
                else:
                    joined.extend(value)
            merged.append(joined)
        elif runs == 1:
            merged.append(results[0][index])
        else:
            merged.append(ValueList(values[index] for values in results))
    return tuple(merged)


def _merge_ui(uis: list[dict]) -> Optional[dict]:
    if not uis:
        return None
    if len(uis) == 1:
        return uis[0]
    merged: dict[str, Any] = {}
    for ui in uis:
        for key, value in ui.items():
            if isinstance(value, list) and isinstance(merged.get(key, []), list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
    return merged
