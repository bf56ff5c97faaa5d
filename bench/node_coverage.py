"""How many of ComfyUI 0.8's core node types for image models this app registers, and which
are missing, module by module.

Run: python -m bench.node_coverage [--json]
The list of ComfyUI's names is data: bench/data/comfyui_0_8_image_nodes.json.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parent / "data" / "comfyui_0_8_image_nodes.json"


def coverage(registered: set[str]) -> dict:
    """Present / missing names per ComfyUI module, and the totals."""
    modules = json.loads(DATA.read_text(encoding="utf-8"))["modules"]
    report = {"modules": {}, "present": 0, "total": 0}
    for module, names in modules.items():
        missing = [name for name in names if name not in registered]
        report["modules"][module] = {"present": len(names) - len(missing), "total": len(names), "missing": missing}
        report["present"] += len(names) - len(missing)
        report["total"] += len(names)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    import nodes

    report = coverage(set(nodes.REGISTRY.names()))
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for module, row in report["modules"].items():
        line = f"{module:42s} {row['present']:3d}/{row['total']:<3d}"
        if row["missing"]:
            line += "  missing: " + ", ".join(row["missing"])
        print(line)
    share = 100.0 * report["present"] / max(report["total"], 1)
    print(f"\nComfyUI 0.8 core image-model node types present: {report['present']} of {report['total']} ({share:.1f}%)")


if __name__ == "__main__":
    main()
