"""`main.py run WORKFLOW`: run a workflow headless with a progress bar."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from .workflow_file import WorkflowFileError, apply_overrides, load_workflow_file

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def format_validation_errors(result, prompt: dict) -> str:
    """One readable line per problem, naming node id, class and input."""
    lines = []
    if result.error:
        lines.append(f"error: {result.error['message']}")
    for node_id, entry in sorted(result.node_errors.items(), key=lambda kv: (len(kv[0]), kv[0])):
        for problem in entry["errors"]:
            lines.append(f"  node {node_id} ({entry['class_type']}): {problem['message']} [{problem['type']}]")
    return "\n".join(lines)


class ProgressPrinter:
    """Turns executor events into a tqdm bar per sampling node and short status lines."""

    def __init__(self, prompt: dict, stream=sys.stderr) -> None:
        self.prompt = prompt
        self.stream = stream
        self.bar: Optional[tqdm] = None
        self.bar_node: Optional[str] = None

    def __call__(self, kind: str, data: dict) -> None:
        if kind == "execution_cached" and data["nodes"]:
            print(f"cached: {len(data['nodes'])} node(s)", file=self.stream)
        elif kind == "executing" and data.get("node") is not None:
            self._close()
            node_id = data["node"]
            print(f"running node {node_id} ({self.prompt[node_id]['class_type']})", file=self.stream)
        elif kind == "progress":
            if self.bar is None or self.bar_node != data["node"]:
                self._close()
                self.bar = tqdm(total=data["max"], desc=f"node {data['node']}", file=self.stream, leave=True)
                self.bar_node = data["node"]
            self.bar.update(data["value"] - self.bar.n)
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_workflow_command(args: argparse.Namespace) -> int:
    from comfy_compat.setup import load_headless
    from executor.run import Executor
    from nodes.folders import Folders

    from .app_paths import app_folders
    from .memory_flags import apply_memory_flags

    apply_memory_flags(args)
    try:
        prompt, ui_workflow = load_workflow_file(Path(args.workflow))
        prompt = apply_overrides(prompt, args.set or [])
    except WorkflowFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID

    folders: Folders = app_folders(args)
    if args.output_dir:
        folders.output = Path(args.output_dir)
    load_headless(Path(args.base_dir) / "custom_nodes", folders)
    executor = Executor(folders)
    _, checked = executor.validate(prompt)
    if not checked.ok or checked.node_errors:
        print("the workflow is not valid:", file=sys.stderr)
        print(format_validation_errors(checked, prompt), file=sys.stderr)
        return EXIT_INVALID

    previous = signal.signal(signal.SIGINT, lambda *_: executor.interrupt())
    try:
        extra = {"extra_pnginfo": {"workflow": ui_workflow}} if ui_workflow else {}
        result = executor.run(prompt, on_event=ProgressPrinter(prompt), extra_data=extra)
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "error":
        err = result.error
        print(f"error in node {err['node_id']} ({err['node_type']}): {err['exception_message']}", file=sys.stderr)
        if args.verbose:
            print("".join(err["traceback"]), file=sys.stderr)
        return EXIT_FAILED
    for node_id, ui in result.outputs.items():
        for line in ui.get("text", []):
            print(f"node {node_id} ({prompt[node_id]['class_type']}): {line}", file=sys.stderr)
        for image in ui.get("images", []):
            folder = folders.by_type(image["type"]) if image["type"] in ("output", "temp", "input") else folders.output
            print(str(Path(folder) / image["subfolder"] / image["filename"]))
    print(f"done in {result.seconds:.2f} s ({len(result.executed)} ran, {len(result.cached)} cached)", file=sys.stderr)
    return EXIT_OK
