"""Output cache keyed by node class, constant inputs and the keys of the node's inputs.

Keys are computed in one pass in dependency order, each from its parents' keys, so the
cost is linear in the number of nodes (no re-walk of the ancestry). The cache is an LRU
with a bound on entries and on estimated memory.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import psutil
import torch

from nodes.registry import NodeRegistry

from .graph import Link, WorkflowGraph


@dataclass
class CacheEntry:
    outputs: tuple
    ui: Optional[dict] = None
    nbytes: int = 0


def estimate_bytes(value: Any, _depth: int = 0) -> int:
    """A rough size of a node output: tensors, modules and containers of them."""
    if _depth > 6:
        return 64
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, torch.nn.Module):
        return sum(p.element_size() * p.nelement() for p in value.parameters())
    sizer = getattr(value, "memory_bytes", None)
    if callable(sizer):
        return int(sizer())
    if isinstance(value, dict):
        return sum(estimate_bytes(v, _depth + 1) for v in value.values()) + 64
    if isinstance(value, (list, tuple)):
        return sum(estimate_bytes(v, _depth + 1) for v in value) + 64
    return 64


RAM_SHARE = 0.5  # the byte bound by default: half of this machine's memory
# Outputs that are intermediate pictures and latents, not loaded models: a failed prompt's
# are released (a retry recomputes them in seconds; keeping them pinned gigabytes).
INTERMEDIATE_TYPES = frozenset({"IMAGE", "LATENT", "MASK", "CONDITIONING", "AUDIO", "VIDEO", "NOISE", "SIGMAS"})


class OutputCache:
    """Least-recently-used cache of node outputs, bounded by entries and bytes."""

    def __init__(self, max_entries: int = 16_384, max_bytes: Optional[int] = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes if max_bytes is not None else int(psutil.virtual_memory().total * RAM_SHARE)
        self._entries: "OrderedDict[str, CacheEntry]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> Optional[CacheEntry]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, outputs: tuple, ui: Optional[dict] = None) -> None:
        entry = CacheEntry(outputs, ui, estimate_bytes(outputs))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = entry
            self._bytes += entry.nbytes
            self._evict(protect=key)

    def _evict(self, protect: str) -> None:
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            oldest = next(iter(self._entries))
            if oldest == protect:
                if len(self._entries) == 1:
                    break
                self._entries.move_to_end(oldest)
                continue
            self._bytes -= self._entries.pop(oldest).nbytes

    def discard(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                entry = self._entries.pop(key, None)
                if entry is not None:
                    self._bytes -= entry.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def _digest(material: Any) -> str:
    text = json.dumps(material, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def compute_keys(
    workflow: WorkflowGraph, order: list[str], values: dict[str, dict], registry: NodeRegistry, folders: Any = None
) -> dict[str, str]:
    """Cache key per node, for nodes in `order` (a topological order)."""
    keys: dict[str, str] = {}
    for node_id in order:
        node = workflow.nodes[node_id]
        cls = registry.get(node.class_type)
        constants = values.get(node_id, {})
        parts = []
        for name, value in sorted(node.inputs.items()):
            if isinstance(value, Link):
                if value.node in keys:  # an undeclared input may link to nothing; it is not read
                    parts.append([name, "link", keys[value.node], value.slot])
            elif cls.input_named(name) is not None:
                parts.append([name, "value", constants.get(name, value)])
        try:
            linked = {name: None for name, value in node.inputs.items() if isinstance(value, Link)}
            fingerprint = cls.fingerprint(folders, **{**linked, **constants})
        except Exception as exc:  # let the node run (and fail with a clear message) instead
            fingerprint = ["unkeyable", repr(exc), uuid.uuid4().hex]
        keys[node_id] = _digest([node.class_type, parts, fingerprint])
    return keys
