"""How ComfyUI custom node packs fare here: nodes declared vs registered, import time, and
whether a workflow of three of the pack's nodes runs.

    python -m bench.custom_nodes DIR [--base BASE] [--json OUT]

DIR holds packs as ComfyUI's custom_nodes/ does. "Declared" is the number of entries in
the pack's NODE_CLASS_MAPPINGS (or its comfy_entrypoint list) once imported, which is what
ComfyUI registers from the same code; a pack that fails to import declares "?".

"Alone" tries every registered node whose required inputs are all widgets with a usable
value (its default, or the first choice; optional widgets get theirs too, as the editor
sends them), each in a workflow of its own feeding a sink node: how many ran. The workflow: the first three (by id) that ran alone, together in one
workflow; "ran" means that run ended in success.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from nodes.registry import REGISTRY, Node, NodeRegistry, register_node
from nodes.spec import ANY_TYPE, NodeOutput, Socket

SINK = "BenchSink"
BENCH_NODES = NodeRegistry()


@register_node(SINK, category="bench", output_node=True, registry=BENCH_NODES)
class BenchSink(Node):
    """Takes any value, so a workflow has an output."""

    value = Socket(ANY_TYPE)
    OUTPUTS = ()

    def execute(self, ctx: Any, value: Any) -> NodeOutput:
        return NodeOutput((), {"text": [type(value).__name__]})


def widget_value(spec: Any) -> tuple[bool, Any]:
    """(usable, value) for a required input: its default, or its first choice."""
    from comfy_compat.v1_inputs import V1Input, combo_choices

    if not isinstance(spec, V1Input) or spec.force_input:
        return False, None
    kind, opts = spec.kind, spec.settings or {}
    if isinstance(kind, list) or kind == "COMBO":
        choices = combo_choices(kind, opts)
        return (True, opts.get("default", choices[0])) if choices else (False, None)
    if kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
        default = opts.get("default", {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[kind])
        if kind in ("INT", "FLOAT"):
            low, high = opts.get("min"), opts.get("max")
            default = max(default, low) if low is not None else default
            default = min(default, high) if high is not None else default
        return True, default
    return False, None


def widget_inputs(registry: NodeRegistry, node_id: str) -> Optional[dict]:
    """Values for every required input, or None when one needs a link (or has no value)."""
    cls = registry.get(node_id)
    if cls is None or not (cls.OUTPUTS or cls.OUTPUT_NODE):
        return None
    try:
        specs = cls.input_specs()
    except Exception:
        return None
    inputs = {}
    for spec in specs:
        usable, value = widget_value(spec)
        if usable:
            inputs[spec.name] = value  # optional widgets too, as the editor sends them
        elif not spec.optional:
            return None
    return inputs


def workflow_of(registry: NodeRegistry, nodes: list[tuple[str, dict]]) -> dict:
    prompt: dict = {}
    for n, (node_id, inputs) in enumerate(nodes, 1):
        prompt[f"n{n}"] = {"class_type": node_id, "inputs": inputs}
        if registry.get(node_id).OUTPUTS:
            prompt[f"s{n}"] = {"class_type": SINK, "inputs": {"value": [f"n{n}", 0]}}
    return prompt


NODE_SECONDS = 30.0  # a node running longer is counted as not run (some draw poster-sized images)


def run_workflow(folders: Any, registry: NodeRegistry, prompt: dict) -> tuple[bool, str]:
    """(ran, why not); a run past NODE_SECONDS is interrupted and counts as not run."""
    import threading

    from executor.run import Executor, WorkflowInvalid

    executor = Executor(folders, registry=registry)
    outcome: list = []

    def work() -> None:
        try:
            outcome.append(executor.run(prompt))
        except WorkflowInvalid as exc:
            outcome.append(exc)
        except Exception as exc:  # the executor itself must not fail; say so if it does
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(NODE_SECONDS)
    if worker.is_alive():
        executor.interrupt()
        worker.join(5)
        return False, f"still running after {NODE_SECONDS:.0f} s"
    result = outcome[0]
    if isinstance(result, WorkflowInvalid):
        problems = [e["message"] for v in result.result.node_errors.values() for e in v["errors"]]
        return False, "invalid: " + "; ".join(problems[:2])
    if isinstance(result, Exception):
        return False, f"executor failed: {result!r}"
    if result.status != "success":
        return False, f"{result.error.get('node_type')}: {result.error.get('exception_message', '')[:100]}"
    return True, ""


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packs", help="a folder of node packs (like custom_nodes/)")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from comfy_compat.setup import load_headless
    from nodes.folders import Folders

    base = Path(tempfile.mkdtemp(prefix="bench_packs_"))
    (base / "custom_nodes").symlink_to(Path(args.packs).resolve(), target_is_directory=True)
    folders = Folders.under(base)
    home = os.getcwd()
    os.chdir(base)  # nodes run with their defaults; some write to relative paths such as ./ComfyUI/output
    registry = REGISTRY.copy()
    for cls in BENCH_NODES:
        registry.add(cls)
    loaded = load_headless(base / "custom_nodes", folders, registry)

    rows = []
    for report in loaded.reports:
        tried, ran_alone, problems = 0, [], {}
        for node_id in sorted(report.nodes):
            inputs = widget_inputs(registry, node_id)
            if inputs is None:
                continue
            tried += 1
            ok, why = run_workflow(folders, registry, workflow_of(registry, [(node_id, inputs)]))
            if ok:
                ran_alone.append((node_id, inputs))
            else:
                problems[node_id] = why
        chosen = ran_alone[:3]
        ran, why = run_workflow(folders, registry, workflow_of(registry, chosen)) if chosen else (False, "")
        rows.append({"pack": report.name, "status": report.status, "declared": report.declared if report.status ==
                     "loaded" else None, "registered": len(report.nodes), "seconds": round(report.seconds, 3),
                     "alone_tried": tried, "alone_ran": len(ran_alone), "alone_problems": problems,
                     "workflow_nodes": [n for n, _ in chosen], "workflow_ran": ran, "workflow_problem": why,
                     "reason": report.reason})
    os.chdir(home)
    shutil.rmtree(base, ignore_errors=True)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def print_table(rows: list[dict]) -> None:
    width = max([len(r["pack"]) for r in rows] + [4])
    print(f"{'pack':{width}}  {'declared':>8}  {'registered':>10}  {'import s':>8}  {'alone':>9}  workflow (3 nodes)")
    declared = registered = 0
    for r in rows:
        shown = "?" if r["declared"] is None else str(r["declared"])
        flow = ("ran" if r["workflow_ran"] else f"did not run ({r['workflow_problem']})") if r["workflow_nodes"] \
            else "-"
        alone = f"{r['alone_ran']}/{r['alone_tried']}"
        print(f"{r['pack']:{width}}  {shown:>8}  {r['registered']:>10}  {r['seconds']:8.2f}  {alone:>9}  {flow}")
        if r["status"] != "loaded":
            print(f"{'':{width}}  failed: {r['reason'][:150]}")
        if r["declared"] is not None:
            declared += r["declared"]
            registered += r["registered"]
    loaded = [r for r in rows if r["status"] == "loaded"]
    share = f"{100 * registered / declared:.1f}%" if declared else "-"
    print(f"\npacks loaded: {len(loaded)} of {len(rows)}; of the loaded packs' declared nodes, {registered} of "
          f"{declared} registered ({share}); nodes run alone: {sum(r['alone_ran'] for r in rows)} of "
          f"{sum(r['alone_tried'] for r in rows)} tried; three-node workflows ran: "
          f"{sum(r['workflow_ran'] for r in rows)} of {sum(bool(r['workflow_nodes']) for r in rows)}")


if __name__ == "__main__":
    sys.exit(main())
