"""ComfyUI V1 node classes from a pack, run by this engine: every part of the contract."""
from __future__ import annotations

import json
import sys

import pytest

from executor.run import Executor, WorkflowInvalid
from tests.pack_support import load_test_packs


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("packs_v1")
    folders, registry, loaded = load_test_packs(base, ["studio_v1_pack", "studio_v3_pack", "studio_single_file.py"])
    return folders, registry, loaded


@pytest.fixture
def executor(env):
    folders, registry, _ = env
    return Executor(folders, registry=registry)


def calls() -> dict:
    return sys.modules["custom_nodes.studio_v1_pack.studio_v1.basic"].CALLS


def test_the_packs_load_and_register_every_declared_node(env):
    _, registry, loaded = env
    v1 = loaded.report("studio_v1_pack")
    assert v1.status == "loaded", v1.reason
    assert len(v1.nodes) == 27 and not v1.node_errors
    assert loaded.report("studio_v3_pack").nodes == ["StudioV3Scale", "StudioV3Show"]
    assert loaded.report("studio_single_file").nodes == ["StudioOneFile"]
    assert all(name in registry for name in v1.nodes)


def test_object_info_is_what_comfyui_publishes(env):
    _, registry, _ = env
    info = registry.get("StudioIntMath").describe()
    assert info["input"]["required"]["a"] == ["INT", {"default": 1, "min": 0, "max": 16384}]
    assert info["input"]["required"]["op"] == [["add", "multiply"]]
    assert info["input_order"] == {"required": ["a", "b", "op"]}
    assert info["output"] == ["INT", "STRING"] and info["output_name"] == ["value", "text"]
    assert info["output_is_list"] == [False, False]
    assert info["output_tooltips"] == ["the result", "the result as text"]
    assert info["display_name"] == "Studio Int Math" and info["category"] == "studio_test/math"
    assert info["description"] == "Adds or multiplies two integers."
    assert info["python_module"] == "custom_nodes.studio_v1_pack"
    assert info["search_aliases"] == ["arithmetic", "calculator"]
    assert info["output_node"] is False
    old = registry.get("StudioOldNode").describe()
    assert old["deprecated"] is True and old["experimental"] is True
    hidden = registry.get("StudioHidden").describe()
    assert hidden["input"]["hidden"]["unique_id"] == "UNIQUE_ID" and hidden["output_node"] is True
    ranged = registry.get("StudioRange").describe()
    assert ranged["output_is_list"] == [True, False]
    json.dumps(registry.get("StudioCheckpointName").describe())


def test_values_are_checked_as_comfyui_checks_them(executor):
    bad = {"1": {"class_type": "StudioIntMath", "inputs": {"a": -1, "b": 200, "op": "divide"}},
           "2": {"class_type": "StudioShowText", "inputs": {"text": ["1", 1]}}}
    with pytest.raises(WorkflowInvalid) as info:
        executor.run(bad)
    kinds = sorted(e["type"] for e in info.value.result.node_errors["1"]["errors"])
    assert kinds == ["value_bigger_than_max", "value_not_in_list", "value_smaller_than_min"]


def test_a_pack_node_runs_between_core_and_pack_nodes(executor):
    prompt = {"1": {"class_type": "StudioIntMath", "inputs": {"a": 6, "b": 7, "op": "multiply"}},
              "2": {"class_type": "StudioShowText", "inputs": {"text": ["1", 1], "anything": ["1", 0]}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["2"] == {"text": ["42"]}


def test_hidden_inputs_carry_the_prompt_and_node(executor):
    prompt = {"5": {"class_type": "StudioHidden", "inputs": {"label": "y"}}}
    result = executor.run(prompt, extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}})
    facts = result.outputs["5"]["facts"][0]
    assert facts == {"unique_id": "5", "prompt_nodes": ["5"], "workflow": {"nodes": []}, "class_type": "StudioHidden"}


def test_output_lists_map_downstream_nodes_and_input_lists_take_them_whole(executor):
    calls().pop("StudioAddTen", None)
    prompt = {"1": {"class_type": "StudioRange", "inputs": {"count": 4}},
              "2": {"class_type": "StudioAddTen", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "StudioSumList", "inputs": {"values": ["2", 0], "scale": 2}},
              "4": {"class_type": "StudioIntMath", "inputs": {"a": ["3", 0], "b": 0, "op": "add"}},
              "5": {"class_type": "StudioShowText", "inputs": {"text": ["4", 1]}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert calls()["StudioAddTen"] == 4  # once per item
    assert result.outputs["5"] == {"text": [str((10 + 11 + 12 + 13) * 2)]}


def test_a_list_into_an_output_node_runs_it_per_item(executor):
    prompt = {"1": {"class_type": "StudioRange", "inputs": {"count": 3}},
              "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 1, "op": "add"}},
              "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}}
    assert executor.run(prompt).outputs["3"] == {"text": ["1", "2", "3"]}


def test_lazy_inputs_run_only_the_branch_asked_for(executor):
    calls().pop("StudioAlwaysChanged", None)
    prompt = {"1": {"class_type": "StudioAlwaysChanged", "inputs": {"value": 1}},
              "2": {"class_type": "StudioFails", "inputs": {"message": "the unused branch ran"}},
              "3": {"class_type": "StudioLazySwitch", "inputs": {"use_first": True, "first": ["1", 0],
                                                                  "second": ["2", 0]}},
              "4": {"class_type": "StudioIntMath", "inputs": {"a": ["3", 0], "b": 0, "op": "add"}},
              "5": {"class_type": "StudioShowText", "inputs": {"text": ["4", 1]}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert "2" not in result.executed and result.outputs["5"] == {"text": ["1"]}
    prompt["3"]["inputs"]["use_first"] = False
    failed = executor.run(prompt)
    assert failed.status == "error" and failed.error["node_id"] == "2"


def test_an_execution_blocker_stops_what_follows_it(executor):
    prompt = {"1": {"class_type": "StudioIntMath", "inputs": {"a": 1, "b": 1, "op": "add"}},
              "2": {"class_type": "StudioGate", "inputs": {"value": ["1", 0], "open": False, "message": ""}},
              "3": {"class_type": "StudioIntMath", "inputs": {"a": ["2", 0], "b": 1, "op": "add"}},
              "4": {"class_type": "StudioShowText", "inputs": {"text": ["3", 1]}},
              "5": {"class_type": "StudioShowText", "inputs": {"text": ["1", 1]}}}
    result = executor.run(prompt)
    assert result.status == "success"
    assert "4" not in result.outputs and result.outputs["5"] == {"text": ["2"]}
    prompt["2"]["inputs"]["message"] = "closed on purpose"
    events = []
    executor.run(prompt, on_event=lambda kind, data: events.append((kind, data)))
    blocked = [d for k, d in events if k == "execution_blocked"]
    assert blocked and blocked[0]["exception_message"] == "Execution Blocked: closed on purpose"


def test_is_changed_nan_reruns_every_time_and_a_value_keys_the_cache(executor, env):
    folders = env[0]
    prompt = {"1": {"class_type": "StudioAlwaysChanged", "inputs": {"value": 3}},
              "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
              "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}}
    calls().pop("StudioAlwaysChanged", None)
    executor.run(prompt)
    executor.run(prompt)
    assert calls()["StudioAlwaysChanged"] == 2
    (folders.input / "stamp.txt").write_text("one")
    stamp = {"1": {"class_type": "StudioFileStamp", "inputs": {"name": "stamp.txt"}},
             "2": {"class_type": "StudioShowText", "inputs": {"text": ["1", 0]}}}
    calls().pop("StudioFileStamp", None)
    assert executor.run(stamp).outputs["2"] == {"text": ["one"]}
    executor.run(stamp)
    assert calls()["StudioFileStamp"] == 1
    (folders.input / "stamp.txt").write_text("two")
    assert executor.run(stamp).outputs["2"] == {"text": ["two"]}


def test_validate_inputs_replaces_the_built_in_checks_and_gets_linked_types(executor):
    def prompt(even, source_class="StudioIntMath"):
        source = {"class_type": source_class, "inputs": {"a": 1, "b": 1, "op": "add"}} \
            if source_class == "StudioIntMath" else {"class_type": source_class, "inputs": {"name": "n"}}
        return {"1": source, "2": {"class_type": "StudioValidated", "inputs": {"even": even, "anything": ["1", 0]}},
                "3": {"class_type": "StudioIntMath", "inputs": {"a": ["2", 0], "b": 0, "op": "add"}},
                "4": {"class_type": "StudioShowText", "inputs": {"text": ["3", 1]}}}

    assert executor.run(prompt(4)).outputs["4"] == {"text": ["4"]}
    with pytest.raises(WorkflowInvalid) as info:
        executor.run(prompt(3))
    errors = info.value.result.node_errors["2"]["errors"]
    assert {e["type"] for e in errors} == {"custom_validation_failed"}
    assert any(e["details"] == "even - 3 is odd" for e in errors)
    assert executor.run(prompt(12)).outputs["4"] == {"text": ["12"]}  # max 10 is not checked: the node checks
    with pytest.raises(WorkflowInvalid) as info:
        executor.run(prompt(2, "StudioMakeThing"))
    assert any("cannot take STUDIO_THING" in e["details"] for e in info.value.result.node_errors["2"]["errors"])


def test_custom_types_link_only_to_their_own_kind(executor):
    good = {"1": {"class_type": "StudioMakeThing", "inputs": {"name": "box"}},
            "2": {"class_type": "StudioUseThing", "inputs": {"thing": ["1", 0]}},
            "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 0]}}}
    assert executor.run(good).outputs["3"] == {"text": ["BOX"]}
    bad = dict(good)
    bad["2"] = {"class_type": "StudioUseThing", "inputs": {"thing": ["1", 0]}}
    bad["1"] = {"class_type": "StudioIntMath", "inputs": {"a": 1, "b": 1, "op": "add"}}
    with pytest.raises(WorkflowInvalid) as info:
        executor.run(bad)
    assert info.value.result.node_errors["2"]["errors"][0]["type"] == "return_type_mismatch"


def test_a_combo_list_output_feeds_a_core_combo(executor, env):
    folders = env[0]
    (folders.models / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folders.models / "checkpoints" / "m.safetensors").write_bytes(b"")
    prompt = {"1": {"class_type": "StudioCheckpointName", "inputs": {"ckpt_name": "m.safetensors",
                                                                    "sampler": "euler", "scheduler": "karras"}},
              "2": {"class_type": "StudioShowText", "inputs": {"text": ["1", 0], "anything": ["1", 1]}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["2"]["text"][0].endswith("checkpoints/m.safetensors")


def test_a_failing_pack_node_reports_its_error_and_the_run_ends_cleanly(executor):
    result = executor.run({"1": {"class_type": "StudioFails", "inputs": {"message": "exploded"}},
                           "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
                           "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}})
    assert result.status == "error"
    assert result.error["node_type"] == "StudioFails" and result.error["exception_message"] == "exploded"


def test_progress_bars_report_and_interrupts_stop_pack_code(executor):
    seen = []

    def on_event(kind, data):
        if kind == "progress":
            seen.append(data["value"])
            if data["value"] == 2:
                executor.interrupt()

    result = executor.run({"1": {"class_type": "StudioSlowProgress", "inputs": {"steps": 50, "delay": 0.0}},
                           "2": {"class_type": "StudioIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
                           "3": {"class_type": "StudioShowText", "inputs": {"text": ["2", 1]}}}, on_event=on_event)
    assert result.status == "interrupted" and result.error["node_id"] == "1"
    assert seen[:2] == [1, 2] and len(seen) < 50


def test_schema_api_nodes_run_with_their_validation_and_ui(executor, env):
    _, registry, _ = env
    info = registry.get("StudioV3Scale").describe()
    assert info["display_name"] == "Studio V3 Scale"
    assert info["input"]["required"]["mode"] == ["COMBO", {"multiselect": False, "options": ["plain", "negate"],
                                                           "default": "plain"}]
    assert info["input"]["required"]["times"][1]["display"] == "slider"
    prompt = {"1": {"class_type": "StudioV3Scale", "inputs": {"value": 1.5, "times": 3, "mode": "negate"}},
              "2": {"class_type": "StudioV3Show", "inputs": {"value": ["1", 0]}}}
    result = executor.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["2"] == {"text": ["-4.50 from 2"]}
    prompt["1"]["inputs"]["times"] = 7
    with pytest.raises(WorkflowInvalid) as err:
        executor.run(prompt)
    assert "seven is not allowed" in json.dumps(err.value.result.node_errors["1"])


def test_single_file_pack_and_display_names(env):
    _, registry, _ = env
    assert registry.get("StudioOneFile").describe()["display_name"] == "Studio One File"
