"""Every validation error type, reported by node id in ComfyUI's node_errors shape."""
from __future__ import annotations

import pytest

from bench.trivial_nodes import TRIVIAL, chain_workflow
from executor.run import Executor
from nodes.folders import Folders
from nodes.registry import Node, NodeDefinitionError, NodeRegistry, register_node
from nodes.spec import Int, Output, Socket


@pytest.fixture
def executor(tmp_path):
    return Executor(Folders.under(tmp_path), registry=TRIVIAL)


def base() -> dict:
    return {
        "1": {"class_type": "IntConst", "inputs": {"value": 3}},
        "2": {"class_type": "Scale", "inputs": {"a": ["1", 0], "factor": 2.0, "label": "x", "mode": "round"}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }


def errors_of(executor, prompt) -> tuple[dict, dict]:
    _, result = executor.validate(prompt)
    return result.error, result.node_errors


def only_error(executor, prompt, node_id) -> dict:
    error, node_errors = errors_of(executor, prompt)
    assert error is not None and error["type"] == "prompt_outputs_failed_validation"
    assert list(node_errors) == [node_id], node_errors
    entry = node_errors[node_id]
    assert entry["dependent_outputs"] == ["3"]
    assert len(entry["errors"]) == 1
    return entry["errors"][0]


def test_valid_workflow_has_no_errors(executor):
    error, node_errors = errors_of(executor, base())
    assert error is None and node_errors == {}


def test_unknown_class(executor):
    prompt = base()
    prompt["2"]["class_type"] = "NoSuchNode"
    problem = only_error(executor, prompt, "2")
    assert problem["type"] == "invalid_prompt"
    assert "NoSuchNode" in problem["message"]


def test_missing_required_input(executor):
    prompt = base()
    del prompt["2"]["inputs"]["factor"]
    problem = only_error(executor, prompt, "2")
    assert problem["type"] == "required_input_missing"
    assert problem["extra_info"]["input_name"] == "factor"


def test_link_to_missing_node(executor):
    prompt = base()
    prompt["2"]["inputs"]["a"] = ["99", 0]
    assert only_error(executor, prompt, "2")["type"] == "bad_linked_input"


def test_link_to_missing_slot(executor):
    prompt = base()
    prompt["2"]["inputs"]["a"] = ["1", 5]
    problem = only_error(executor, prompt, "2")
    assert problem["type"] == "bad_linked_input"
    assert "output 5" in problem["message"]


def test_type_mismatch(executor):
    prompt = base()
    prompt["3"]["inputs"]["a"] = ["2", 1]  # Scale's second output is a STRING
    error, node_errors = errors_of(executor, prompt)
    problem = node_errors["3"]["errors"][0]
    assert problem["type"] == "return_type_mismatch"
    assert problem["extra_info"]["received_type"] == "STRING"
    assert problem["extra_info"]["input_type"] == "INT"


def test_bad_value_type(executor):
    prompt = base()
    prompt["2"]["inputs"]["factor"] = "lots"
    assert only_error(executor, prompt, "2")["type"] == "invalid_input_type"


def test_constant_given_to_a_socket(executor):
    prompt = base()
    prompt["2"]["inputs"]["a"] = 5
    assert only_error(executor, prompt, "2")["type"] == "invalid_input_type"


def test_below_min(executor):
    prompt = base()
    prompt["2"]["inputs"]["factor"] = -1
    problem = only_error(executor, prompt, "2")
    assert problem["type"] == "value_smaller_than_min"
    assert problem["extra_info"]["received_value"] == -1


def test_above_max(executor):
    prompt = base()
    prompt["2"]["inputs"]["factor"] = 11
    assert only_error(executor, prompt, "2")["type"] == "value_bigger_than_max"


def test_combo_value_not_in_list(executor):
    prompt = base()
    prompt["2"]["inputs"]["mode"] = "ceil"
    problem = only_error(executor, prompt, "2")
    assert problem["type"] == "value_not_in_list"
    assert "ceil" in problem["message"]


def test_cycle(executor):
    prompt = {
        "1": {"class_type": "AddOne", "inputs": {"a": ["2", 0]}},
        "2": {"class_type": "AddOne", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "IntSink", "inputs": {"a": ["2", 0]}},
    }
    error, node_errors = errors_of(executor, prompt)
    assert error["type"] == "prompt_outputs_failed_validation"
    assert [e["type"] for e in node_errors["1"]["errors"]] == ["dependency_cycle"]
    assert "2" not in node_errors  # the cycle is reported once


def test_no_output_node(executor):
    prompt = {"1": {"class_type": "IntConst", "inputs": {"value": 1}}}
    error, _ = errors_of(executor, prompt)
    assert error["type"] == "prompt_no_outputs"


def test_not_a_workflow(executor):
    for bad in ([1, 2], "text"):
        error, _ = errors_of(executor, bad)
        assert error["type"] == "invalid_prompt"


def test_a_malformed_node_is_reported_under_its_id(executor):
    """The editor points at the node; the other outputs still run."""
    for body in ("not a node", {"class_type": "IntSink", "inputs": []}, 7, None):
        prompt = {**base(), "9": body}
        checked = executor.validate(prompt)[1]
        assert checked.ok, body
        assert [e["type"] for e in checked.node_errors["9"]["errors"]] == ["invalid_prompt"]
        assert "3" in checked.outputs
    checked = executor.validate({"1": {"class_type": "IntSink", "inputs": "x"}})[1]
    assert checked.error["type"] == "prompt_outputs_failed_validation"
    assert "'inputs' must be an object" in checked.node_errors["1"]["errors"][0]["message"]


def test_every_problem_is_reported_at_once(executor):
    prompt = base()
    prompt["1"]["inputs"]["value"] = "x"
    prompt["2"]["inputs"]["factor"] = 50
    prompt["2"]["inputs"]["mode"] = "ceil"
    _, node_errors = errors_of(executor, prompt)
    assert {e["type"] for e in node_errors["2"]["errors"]} == {"value_bigger_than_max", "value_not_in_list"}
    assert node_errors["1"]["errors"][0]["type"] == "invalid_input_type"


def test_one_bad_output_does_not_block_a_good_one(executor):
    prompt = base()
    prompt["4"] = {"class_type": "IntSink", "inputs": {"a": ["99", 0]}}
    _, result = executor.validate(prompt)
    assert result.ok and result.outputs == ["3"]
    assert "4" in result.node_errors


def test_string_numbers_are_coerced(executor):
    prompt = base()
    prompt["2"]["inputs"]["factor"] = "2.5"
    _, result = executor.validate(prompt)
    assert result.ok and result.values["2"]["factor"] == 2.5


def test_chain_of_ten_thousand_validates(executor):
    _, result = executor.validate(chain_workflow(10_000))
    assert result.ok


def test_registration_rejects_default_outside_bounds():
    with pytest.raises(NodeDefinitionError, match=r"Bad\.steps: default 0 below min 1"):

        @register_node("Bad", category="test", registry=NodeRegistry())
        class Bad(Node):
            steps = Int(default=0, min=1)
            OUTPUTS = (Output("INT"),)

            def execute(self, ctx, steps):
                return (steps,)


def test_registration_rejects_execute_not_matching_inputs():
    with pytest.raises(NodeDefinitionError, match="no parameter for input 'b'"):

        @register_node("Bad2", category="test", registry=NodeRegistry())
        class Bad2(Node):
            a = Socket("INT")
            b = Socket("INT")
            OUTPUTS = (Output("INT"),)

            def execute(self, ctx, a):
                return (a,)


def test_registration_rejects_duplicate_ids():
    registry = NodeRegistry()

    def make():
        @register_node("Twice", category="test", registry=registry)
        class Twice(Node):
            OUTPUTS = (Output("INT"),)

            def execute(self, ctx):
                return (1,)

    make()
    with pytest.raises(NodeDefinitionError, match="already registered"):
        make()


def test_a_long_cycle_is_refused_with_one_short_message(executor):
    """A 10,000-node cycle is reported once, on its first member, naming the first few
    members and how many more: the answer does not grow with the cycle."""
    import json

    n = 10_000
    prompt = {str(i): {"class_type": "AddOne", "inputs": {"a": [str((i + 1) % n), 0]}} for i in range(n)}
    prompt["sink"] = {"class_type": "IntSink", "inputs": {"a": ["0", 0]}}
    error, node_errors = errors_of(executor, prompt)
    assert error["type"] == "prompt_outputs_failed_validation"
    assert list(node_errors) == ["0"]
    message = node_errors["0"]["errors"][0]["message"]
    assert message == "Node is part of a cycle of 10000 nodes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 9990 more)"
    assert node_errors["0"]["dependent_outputs"] == ["sink"]
    assert len(json.dumps(node_errors)) < 1_000
