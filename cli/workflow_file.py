"""Reading a workflow for the command line: API-format JSON, or a PNG that carries one,
plus `--set NODE.INPUT=VALUE` overrides."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


class WorkflowFileError(ValueError):
    """A workflow file or an override that cannot be used; the message says why."""


def load_workflow_file(path: Path) -> tuple[dict, Optional[dict]]:
    """(API prompt, UI workflow or None) from a .json file or a PNG with a `prompt` chunk."""
    if not path.exists():
        raise WorkflowFileError(f"{path}: no such file")
    if path.suffix.lower() == ".png":
        from nodes.png_files import read_png_text

        chunks = read_png_text(path)
        if "prompt" not in chunks:
            raise WorkflowFileError(f"{path}: this PNG carries no 'prompt' (API workflow) chunk")
        prompt = _parse_json(chunks["prompt"], path)
        ui = _parse_json(chunks["workflow"], path) if "workflow" in chunks else None
        return prompt, ui
    data = _parse_json(path.read_text(encoding="utf-8"), path)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data.get("prompt", {}):
        # the body of a POST /prompt request
        ui = (data.get("extra_data") or {}).get("extra_pnginfo", {}).get("workflow")
        return data["prompt"], ui
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        raise WorkflowFileError(
            f"{path}: this is an editor (UI-format) workflow; run its API export, or a PNG it produced"
        )
    if not isinstance(data, dict):
        raise WorkflowFileError(f"{path}: a workflow must be a JSON object")
    return data, None


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def parse_value(text: str) -> Any:
    """`7` -> 7, `1.5` -> 1.5, `true` -> True, `"x"` -> "x"; anything else stays text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(prompt: dict, assignments: list[str]) -> dict:
    """Apply `NODE.INPUT=VALUE` assignments to a copy of the prompt."""
    result = json.loads(json.dumps(prompt))
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        node_id, dot, input_name = target.partition(".")
        if not sep or not dot or not node_id or not input_name:
            raise WorkflowFileError(f"--set {assignment!r}: expected NODE.INPUT=VALUE, e.g. 3.seed=7")
        node = result.get(node_id)
        if not isinstance(node, dict):
            known = ", ".join(sorted(result, key=lambda k: (len(k), k)))
            raise WorkflowFileError(f"--set {assignment!r}: the workflow has no node '{node_id}' (nodes: {known})")
        inputs = node.setdefault("inputs", {})
        if input_name not in inputs:
            raise WorkflowFileError(
                f"--set {assignment!r}: node {node_id} ({node.get('class_type')}) has no input '{input_name}' "
                f"(inputs: {', '.join(inputs)})"
            )
        inputs[input_name] = parse_value(raw)
    return result
