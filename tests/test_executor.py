"""Executor behaviour on trivial integer nodes: ordering, caching, validation, errors, interrupts."""
from __future__ import annotations

import pytest
import torch

from bench.trivial_nodes import CALLS, TRIVIAL, chain_workflow, wide_workflow
from executor.cache import OutputCache
from executor.run import Executor, WorkflowInvalid
from nodes.folders import Folders


@pytest.fixture
def executor(tmp_path):
    CALLS.clear()
    return Executor(Folders.under(tmp_path), registry=TRIVIAL)


def total_calls() -> int:
    return sum(CALLS.values())


def test_chain_runs_in_order_and_returns_ui(executor):
    result = executor.run(chain_workflow(10))
    assert result.status == "success"
    assert result.outputs == {"11": {"value": [10]}}
    assert result.executed == [str(i) for i in range(12)]


def test_identical_workflow_executes_no_node(executor):
    executor.run(chain_workflow(20))
    assert total_calls() == 22
    CALLS.clear()
    again = executor.run(chain_workflow(20))
    assert total_calls() == 0
    assert again.executed == []
    assert len(again.cached) == 22
    assert again.outputs == {"21": {"value": [20]}}


def test_changed_constant_reruns_only_downstream(executor):
    prompt = {
        "1": {"class_type": "IntConst", "inputs": {"value": 1}},
        "2": {"class_type": "AddOne", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "IntConst", "inputs": {"value": 5}},
        "4": {"class_type": "Scale", "inputs": {"a": ["2", 0], "factor": 2.0, "label": "", "mode": "round"}},
        "5": {"class_type": "AddOne", "inputs": {"a": ["3", 0]}},
        "6": {"class_type": "IntSink", "inputs": {"a": ["4", 0]}},
        "7": {"class_type": "IntSink", "inputs": {"a": ["5", 0]}},
    }
    executor.run(prompt)
    CALLS.clear()
    prompt["4"]["inputs"]["factor"] = 3.0  # like changing the sampler's seed
    result = executor.run(prompt)
    assert sorted(result.executed) == ["4", "6"]
    assert result.outputs["6"] == {"value": [6]}
    assert result.outputs["7"] == {"value": [6]}  # served from the cache


def test_only_nodes_feeding_outputs_run(executor):
    prompt = chain_workflow(3)
    prompt["orphan"] = {"class_type": "AddOne", "inputs": {"a": ["0", 0]}}
    result = executor.run(prompt)
    assert "orphan" not in result.executed


def test_events_in_order(executor):
    events = []
    executor.run(chain_workflow(2), prompt_id="p1", on_event=lambda kind, data: events.append((kind, data)))
    kinds = [k for k, _ in events]
    assert kinds[0] == "execution_start" and kinds[1] == "execution_cached"
    assert kinds[-2:] == ["execution_success", "executing"]
    assert events[-1][1]["node"] is None
    executing = [d["node"] for k, d in events if k == "executing" and d["node"]]
    assert executing == ["0", "1", "2", "3"]
    executed = [d for k, d in events if k == "executed"]
    assert executed == [{"node": "3", "display_node": "3", "output": {"value": [2]}, "prompt_id": "p1"}]
    assert all(d["prompt_id"] == "p1" for _, d in events)


def test_cached_event_lists_cached_nodes(executor):
    executor.run(chain_workflow(2))
    events = []
    executor.run(chain_workflow(2), on_event=lambda kind, data: events.append((kind, data)))
    cached = [d for k, d in events if k == "execution_cached"][0]
    assert cached["nodes"] == ["0", "1", "2", "3"]


def test_cached_output_node_still_reports_what_it_shows(executor):
    """Like ComfyUI: a re-run served from the cache sends `executed` for the output node
    (its saved UI output), so a client that did not see the first run still gets it."""
    executor.run(chain_workflow(2))
    events = []
    again = executor.run(chain_workflow(2), prompt_id="p2", on_event=lambda kind, data: events.append((kind, data)))
    assert again.executed == []
    assert [d for k, d in events if k == "executed"] == [{"node": "3", "display_node": "3", "output": {"value": [2]}, "prompt_id": "p2"}]
    assert [d["node"] for k, d in events if k == "executing" and d["node"]] == []  # nothing ran
    kinds = [k for k, _ in events]
    assert kinds.index("executed") < kinds.index("execution_success")


def test_ten_thousand_node_chain_runs_without_recursion(executor):
    result = executor.run(chain_workflow(10_000))
    assert result.outputs[str(10_001)] == {"value": [10_000]}
    again = executor.run(chain_workflow(10_000))
    assert again.executed == []


def test_failing_node_reports_error_and_cache_stays_consistent(executor):
    prompt = chain_workflow(3)
    prompt["2"]["inputs"]["fail"] = "yes"
    events = []
    result = executor.run(prompt, on_event=lambda kind, data: events.append((kind, data)))
    assert result.status == "error"
    err = result.error
    assert err["node_id"] == "2" and err["node_type"] == "AddOne"
    assert "asked to fail" in err["exception_message"]
    assert err["executed"] == ["0", "1"]
    assert any("RuntimeError" in line for line in err["traceback"])
    assert err["current_inputs"]["a"] == "1"
    assert [k for k, _ in events if k == "execution_error"]
    CALLS.clear()
    prompt["2"]["inputs"]["fail"] = "no"
    fixed = executor.run(prompt)
    assert fixed.status == "success"
    assert fixed.outputs["4"] == {"value": [3]}
    assert fixed.executed == ["2", "3", "4"]  # 0 and 1 came from the cache


def test_interrupt_mid_node_stops_and_next_run_works(executor):
    prompt = {
        "1": {"class_type": "IntConst", "inputs": {"value": 1}},
        "2": {"class_type": "SlowSteps", "inputs": {"a": ["1", 0], "steps": 10}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }
    seen = []

    def on_event(kind, data):
        if kind == "progress":
            seen.append(data["value"])
            if data["value"] == 3:
                executor.interrupt()

    result = executor.run(prompt, on_event=on_event)
    assert result.status == "interrupted"
    assert result.error["node_id"] == "2"
    assert seen == [1, 2, 3]
    assert [k for k, _ in result.messages][-1] == "execution_interrupted"
    again = executor.run(prompt)
    assert again.status == "success"
    assert again.executed == ["2", "3"]


def test_cache_is_bounded_by_entries():
    cache = OutputCache(max_entries=3)
    for i in range(5):
        cache.put(f"k{i}", (i,))
    assert len(cache) == 3
    assert "k0" not in cache and "k4" in cache


def test_cache_is_bounded_by_bytes():
    cache = OutputCache(max_entries=100, max_bytes=5_000)
    for i in range(4):
        cache.put(f"k{i}", (torch.zeros(400),))  # 1,600 bytes each
    assert cache.total_bytes <= 5_000
    assert "k3" in cache and "k0" not in cache


def test_cache_keeps_recently_used():
    cache = OutputCache(max_entries=2)
    cache.put("a", (1,))
    cache.put("b", (2,))
    cache.get("a")
    cache.put("c", (3,))
    assert "a" in cache and "b" not in cache


def test_wide_graph_runs_every_branch(executor):
    result = executor.run(wide_workflow(50))
    assert len(result.outputs) == 50
    assert result.outputs["7s"] == {"value": [8]}


def test_invalid_workflow_raises_with_node_errors(executor):
    prompt = chain_workflow(2)
    prompt["1"]["inputs"]["a"] = ["missing", 0]
    with pytest.raises(WorkflowInvalid) as info:
        executor.run(prompt)
    assert "1" in info.value.result.node_errors
