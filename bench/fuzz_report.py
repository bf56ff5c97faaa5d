"""Tallying fuzz outcomes and the run-time results of accepted prompts into a report.

Findings are what the report is for: every 5xx or dropped connection with a reproducer,
and every prompt the server accepted that then failed while running.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional

from .fuzz_http import Outcome

CLASSES = ("2xx", "4xx", "5xx", "no answer")


@dataclass
class RunResults:
    """What became of the prompts POST /prompt accepted."""

    success: int = 0
    interrupted: int = 0
    unfinished: int = 0
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # group -> kinds
    examples: dict[str, str] = field(default_factory=dict)  # group -> its first message

    @property
    def failed(self) -> int:
        return sum(len(kinds) for kinds in self.errors.values())

    def add_error(self, message: str, kind: str) -> None:
        group = shape(message)
        self.examples.setdefault(group, message)
        self.errors[group].append(kind)


def shape(message: str) -> str:
    """The message with numbers and quoted names blanked: one group per kind of failure."""
    return re.sub(r"'[^']*('|$)", "'…'", re.sub(r"\d+", "N", message))


def run_error(entry: dict) -> Optional[str]:
    """`ExceptionType: message` of a history entry's execution_error, if it has one."""
    for kind, data in (entry.get("status") or {}).get("messages") or []:
        if kind == "execution_error":
            node = f" in {data.get('node_type')}" if data.get("node_type") else ""
            message = str(data.get("exception_message", "")).strip().splitlines()
            return f"{data.get('exception_type', '?')}{node}: {message[0][:200] if message else ''}"
    return None


def run_results(history: dict, accepted: dict[str, str]) -> RunResults:
    """Classify each accepted prompt id (mapped to its case kind) by its history entry."""
    results = RunResults()
    for prompt_id, kind in accepted.items():
        entry = history.get(prompt_id)
        status = ((entry or {}).get("status") or {}).get("status_str")
        if entry is None:
            results.unfinished += 1
        elif status == "success":
            results.success += 1
        elif (error := run_error(entry)) is not None:
            results.add_error(error, kind)
        else:
            results.interrupted += 1
    return results


class Tally:
    """Counts by status class and by kind; keeps the failures and the slowest answer."""

    def __init__(self) -> None:
        self.classes: Counter[str] = Counter()
        self.kinds: dict[str, Counter[str]] = defaultdict(Counter)
        self.failures: list[tuple[Outcome, str]] = []  # (outcome, where the server raised)
        self.slowest: Optional[Outcome] = None
        self.total_ms = 0.0

    def add(self, outcome: Outcome, where: str = "") -> None:
        self.classes[outcome.status_class] += 1
        self.kinds[outcome.case.kind][outcome.status_class] += 1
        self.total_ms += outcome.ms
        if outcome.status_class in ("5xx", "no answer"):
            self.failures.append((outcome, where))
        if self.slowest is None or outcome.ms > self.slowest.ms:
            self.slowest = outcome

    @property
    def count(self) -> int:
        return sum(self.classes.values())


def _classes(counts: Counter[str]) -> str:
    return "  ".join(f"{name} {counts[name]}" for name in CLASSES if counts[name])


def _message(text: str) -> str:
    """The error message of a JSON error body, else the text itself (200 chars)."""
    try:
        error = json.loads(text).get("error", {})
        text = f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) else text
    except (ValueError, AttributeError):
        pass
    return text[:200].replace("\n", " ")


def format_report(tally: Tally, seconds: float, alive: bool, runs: Optional[RunResults], seed: int,
                  base_dir: str = "") -> str:
    """The report; the server's temporary folder shows as BASE in messages."""
    lines = [f"{tally.count} cases in {seconds:.1f} s (seed {seed}); "
             f"mean answer {tally.total_ms / max(tally.count, 1):.1f} ms",
             f"status classes: {_classes(tally.classes)}", "", "by kind:"]
    width = max((len(kind) for kind in tally.kinds), default=10)
    for kind in sorted(tally.kinds):
        lines.append(f"  {kind:<{width}}  {_classes(tally.kinds[kind])}")
    if tally.slowest is not None:
        slow = tally.slowest
        lines += ["", f"slowest: {slow.case.kind} {slow.ms:.0f} ms (case #{slow.index}: {slow.case.describe(120)})"]
    lines += ["", f"5xx / no answer: {len(tally.failures)}"]
    for outcome, where in tally.failures:
        lines.append(f"  #{outcome.index} {outcome.case.kind} [{outcome.status or 'no answer'}] "
                     f"{outcome.case.detail[:100]}")
        lines.append(f"      response: {outcome.text[:200]}")
        if where:
            lines.append(f"      raised at: {where}")
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome, where in tally.failures:
        groups[f"{outcome.case.kind} | {shape(where or _message(outcome.text))[:160]}"].append(outcome)
    if groups:
        lines += ["", f"distinct 5xx faults: {len(groups)}"]
        for group, outcomes in sorted(groups.items()):
            lines.append(f"  {len(outcomes)} x {group}")
            lines.append(f"      first: #{outcomes[0].index} {outcomes[0].case.describe(160)}")
    lines += ["", f"server alive at the end (GET /system_stats 200): {'yes' if alive else 'NO'}"]
    if runs is not None:
        lines += ["", f"accepted prompts: {runs.success} succeeded, {runs.failed} failed at run time, "
                      f"{runs.interrupted} interrupted, {runs.unfinished} not finished in time"]
        for group, kinds in sorted(runs.errors.items(), key=lambda item: -len(item[1])):
            by_kind = ", ".join(f"{k} x{n}" for k, n in Counter(kinds).most_common())
            lines.append(f"  {len(kinds)} x {runs.examples[group]}")
            lines.append(f"      from: {by_kind}")
    text = "\n".join(lines)
    return text.replace(base_dir, "BASE") if base_dir else text
