"""Choosing among regions: by label, by a measured value in a range, by order, by confidence.

Each filter returns the regions it keeps and the ones it leaves, so a workflow can treat
both (Impact Pack's filtered_SEGS / remained_SEGS). Sizes and positions are measured on the
crop region, as the Impact Pack measures them, so its workflows pick the same regions.
"""
from __future__ import annotations

from typing import Any, Callable

SEG = Any  # detection.regions.SEG; not imported so that node modules can list the targets cheaply
Segs = tuple

RANGE_TARGETS = ["area(=w*h)", "width", "height", "x1", "y1", "x2", "y2", "length_percent", "confidence(0-100)"]
ORDER_TARGETS = ["area(=w*h)", "width", "height", "x1", "y1", "x2", "y2", "confidence"]


def _split(segs: Segs, keep: Callable[[SEG], bool]) -> tuple[Segs, Segs]:
    size, items = segs
    return (size, [s for s in items if keep(s)]), (size, [s for s in items if not keep(s)])


def parse_labels(text: str) -> set[str]:
    """'face, hand' -> {'face', 'hand'}; empty or 'all' -> empty set (everything)."""
    labels = {part.strip() for part in text.replace("\n", ",").split(",") if part.strip()}
    return set() if not labels or "all" in labels else labels


def by_label(segs: Segs, labels: str) -> tuple[Segs, Segs]:
    wanted = parse_labels(labels)
    return _split(segs, lambda seg: not wanted or seg.label in wanted)


def measure(seg: SEG, target: str) -> float:
    """The value a range or order filter compares (see RANGE_TARGETS / ORDER_TARGETS)."""
    x1, y1, x2, y2 = seg.crop_region
    width, height = x2 - x1, y2 - y1
    values = {
        "area(=w*h)": width * height, "width": width, "height": height, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
        "length_percent": max(width, height) / max(1, min(width, height)) * 100,
        "confidence(0-100)": float(seg.confidence) * 100, "confidence": float(seg.confidence),
    }
    if target not in values:
        raise ValueError(f"unknown target {target!r}; one of {', '.join(RANGE_TARGETS)}")
    return float(values[target])


def by_range(segs: Segs, target: str, inside: bool, low: float, high: float) -> tuple[Segs, Segs]:
    return _split(segs, lambda seg: (low <= measure(seg, target) <= high) == inside)


def by_order(segs: Segs, target: str, descending: bool, start: int, count: int) -> tuple[Segs, Segs]:
    size, items = segs
    ranked = sorted(items, key=lambda seg: measure(seg, target), reverse=descending)
    chosen = {id(seg) for seg in ranked[start:start + count]}
    return (size, [s for s in ranked if id(s) in chosen]), (size, [s for s in ranked if id(s) not in chosen])


def by_confidence(segs: Segs, low: float, high: float = 1.0) -> tuple[Segs, Segs]:
    return _split(segs, lambda seg: low <= float(seg.confidence) <= high)
