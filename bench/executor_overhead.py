"""Executor overhead on trivial integer nodes (validate + run), cold and fully cached.

Prints median milliseconds over repeats for the reference shapes: chains of 300,
1,000 and 10,000 add-one nodes and 1,000 independent const->add->sink branches.
Run: python -m bench.executor_overhead
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.setrecursionlimit(1000)  # prove nothing recurses

from bench.trivial_nodes import TRIVIAL, chain_workflow, wide_workflow  # noqa: E402
from executor.run import Executor  # noqa: E402
from nodes.folders import Folders  # noqa: E402


def measure(prompt: dict, repeats: int) -> tuple[float, float]:
    """(cold ms, cached ms) medians; cold uses a fresh executor (empty cache) each time."""
    folders = Folders.under(Path(tempfile.mkdtemp()))
    cold, cached = [], []
    for _ in range(repeats):
        executor = Executor(folders, registry=TRIVIAL)
        start = time.perf_counter()
        assert executor.run(prompt).status == "success"
        cold.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        result = executor.run(prompt)
        cached.append((time.perf_counter() - start) * 1000)
        assert not result.executed
    return statistics.median(cold), statistics.median(cached)


def main() -> None:
    shapes = [
        ("chain-300", chain_workflow(300), 5),
        ("chain-1000", chain_workflow(1000), 5),
        ("wide-1000x3 (3,000 nodes)", wide_workflow(1000), 5),
        ("chain-10000", chain_workflow(10_000), 3),
    ]
    print(f"{'workflow':<28}{'nodes':>8}{'cold ms':>10}{'cached ms':>11}{'cold us/node':>14}")
    for name, prompt, repeats in shapes:
        cold, cached = measure(prompt, repeats)
        print(f"{name:<28}{len(prompt):>8}{cold:>10.1f}{cached:>11.1f}{cold * 1000 / len(prompt):>14.1f}")
    print("reference (ComfyUI 0.8.0, measured on a 2-core machine like this one): chain-300 1100 ms cold / 1100-1300 ms cached; "
          "chain-1000 14000 / 17000 ms; wide 3,000 nodes 9500-12800 / 500 ms")


if __name__ == "__main__":
    main()
