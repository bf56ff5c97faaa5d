"""The built-in face swap on two real photographs, and ReActor nodes from real workflows.

Prints, for scikit-image's astronaut and matplotlib's Grace Hopper (each swapped onto the
other): the likeness of the target face to the source face before and after the swap
(Pearson's r of brightness with the face warped onto the source's landmark mesh), the
pixels changed outside the target face's hull (0 expected), and the time to find a
face's landmarks and to swap. With --workflows DIR (ReActor workflows, UI or API format),
each ReActor node found runs with its own settings on the two photographs, its ReActor
companions (options, face booster) included; the counts and any errors are printed.

Run: python -m bench.faceswap [--repeat 5] [--workflows DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def photo_figures(repeat: int) -> list[dict]:
    from faceswap.finder import find_faces
    from faceswap.landmark_swap import hull_mask, swap_by_landmarks
    from faceswap.likeness import face_likeness
    from tests.faceswap_support import astronaut, grace_hopper

    pictures = {"astronaut": astronaut(), "grace_hopper": grace_hopper()}
    find_faces(pictures["astronaut"])  # load the models once
    faces, find_seconds = {}, {}
    for name, picture in pictures.items():
        started = time.perf_counter()
        (faces[name],) = find_faces(picture)
        find_seconds[name] = time.perf_counter() - started
    rows = []
    for target, source in (("astronaut", "grace_hopper"), ("grace_hopper", "astronaut")):
        t_pic, s_pic, t_face, s_face = pictures[target], pictures[source], faces[target], faces[source]
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            swapped, _ = swap_by_landmarks(t_pic, t_face.landmarks, s_pic, s_face.landmarks)
            seconds.append(time.perf_counter() - started)
        hull = hull_mask(t_pic.shape[:2], t_face.landmarks).astype(bool)
        (again,) = find_faces(swapped)
        rows.append({"target": target, "source": source,
                     "likeness_before": face_likeness(t_pic, t_face.landmarks, s_pic, s_face.landmarks),
                     "likeness_after": face_likeness(swapped, again.landmarks, s_pic, s_face.landmarks),
                     "changed_outside_hull": int((swapped != t_pic).any(-1)[~hull].sum()),
                     "changed_inside_hull": float((swapped != t_pic).any(-1)[hull].mean()),
                     "find_ms": find_seconds[target] * 1000, "swap_ms": statistics.median(seconds) * 1000})
    return rows


def _reactor_nodes(workflow: dict) -> tuple[dict, list[str]]:
    """API-format nodes of a workflow (a UI workflow's ReActor nodes mapped by widget order)
    and the ids of its face-swap and restore nodes."""
    from nodes.registry import REGISTRY

    if "nodes" not in workflow:
        nodes = {str(k): v for k, v in workflow.items() if isinstance(v, dict) and "class_type" in v}
    else:
        links = {link[0]: (str(link[1]), link[2]) for link in workflow.get("links", [])}
        nodes = {}
        for node in workflow["nodes"]:
            cls = REGISTRY.get(node.get("type", ""))
            if cls is None or not node["type"].startswith("ReActor"):
                continue
            widgets = [spec.name for spec in cls.INPUTS if spec.is_widget]
            inputs: dict[str, Any] = dict(zip(widgets, node.get("widgets_values") or []))
            for socket in node.get("inputs") or []:
                if socket.get("link") in links:
                    inputs[socket["name"]] = list(links[socket["link"]])
            nodes[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    main = [k for k, v in nodes.items() if v["class_type"] in ("ReActorFaceSwap", "ReActorFaceSwapOpt",
                                                              "ReActorRestoreFace")]
    return nodes, main


def _mini_prompt(nodes: dict, node_id: str) -> dict:
    """The node, its ReActor companions, two LoadImage nodes for its pictures and a SaveImage."""
    prompt = {"t": {"class_type": "LoadImage", "inputs": {"image": "target.png"}},
              "s": {"class_type": "LoadImage", "inputs": {"image": "source.png"}}}
    wanted = [node_id]
    while wanted:
        current = wanted.pop()
        node = json.loads(json.dumps(nodes[current]))
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                if name in ("input_image", "image"):
                    node["inputs"][name] = ["t", 0]
                elif name in ("source_image",):
                    node["inputs"][name] = ["s", 0]
                elif value[0] in nodes and nodes[value[0]]["class_type"].startswith("ReActor"):
                    wanted.append(value[0])
        prompt[current] = node
    prompt["save"] = {"class_type": "SaveImage", "inputs": {"images": [node_id, 0], "filename_prefix": "bench"}}
    return prompt


def workflow_figures(folder: Path) -> dict:
    from executor.run import Executor, WorkflowInvalid
    from nodes.folders import Folders
    from tests.faceswap_support import astronaut, grace_hopper

    folders = Folders.under(Path(tempfile.mkdtemp(prefix="bench_faceswap_")))
    folders.input.mkdir(parents=True)
    Image.fromarray(astronaut()).save(folders.input / "target.png")
    Image.fromarray(grace_hopper()).save(folders.input / "source.png")
    executor = Executor(folders)
    counts = {"files": 0, "nodes": 0, "ran": 0, "changed": 0, "failed": []}
    for path in sorted(folder.glob("*.json")):
        nodes, main = _reactor_nodes(json.loads(path.read_text()))
        counts["files"] += 1
        for node_id in main:
            counts["nodes"] += 1
            try:
                result = executor.run(_mini_prompt(nodes, node_id))
            except WorkflowInvalid as invalid:
                errors = [f"{e['message']}: {e['details']}" for node in invalid.result.node_errors.values()
                          for e in node["errors"]]
                counts["failed"].append(f"{path.name} node {node_id}: invalid: {'; '.join(errors)[:300]}")
                continue
            if result.status != "success":
                error = result.error or {}
                message = error.get("exception_message") or json.dumps(error)[:300]
                counts["failed"].append(f"{path.name} node {node_id}: {message}")
                continue
            counts["ran"] += 1
            record = result.outputs["save"]["images"][0]
            out = np.asarray(Image.open(folders.output / record["subfolder"] / record["filename"]).convert("RGB"))
            counts["changed"] += int((out != astronaut()).any())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workflows", type=Path, help="a folder of ReActor workflows (.json)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, Any] = {"photos": photo_figures(args.repeat)}
    for row in figures["photos"]:
        print(f"{row['source']} onto {row['target']}: likeness to the source {row['likeness_before']:.3f} -> "
              f"{row['likeness_after']:.3f}; hull pixels changed {row['changed_inside_hull']:.1%}, outside "
              f"{row['changed_outside_hull']}; landmarks {row['find_ms']:.0f} ms, swap {row['swap_ms']:.0f} ms")
    if args.workflows:
        counts = figures["workflows"] = workflow_figures(args.workflows)
        print(f"{counts['files']} workflow files, {counts['nodes']} ReActor swap/restore nodes: {counts['ran']} ran, "
              f"{counts['changed']} changed the picture, {len(counts['failed'])} failed")
        for line in counts["failed"]:
            print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
