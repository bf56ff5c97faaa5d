"""The request a fuzz case sends, and JSON encoding that can splice in raw text.

Some faults cannot be written as Python values and dumped (`1e999`, `NaN`, a 100,000
level nesting, duplicate keys): those go in as `Raw` text at the spot they belong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MARK = "\x01\x02fuzzraw{}\x02\x01"


@dataclass(frozen=True)
class Raw:
    """JSON text put into the encoded body as it is (a number, a nesting, anything)."""

    text: str


@dataclass(frozen=True)
class Case:
    """One HTTP request of the fuzzer. `kind` is the generator's label for the fault;
    `target` is the path with its query already percent-encoded."""

    kind: str
    method: str
    target: str
    body: bytes = b""
    content_type: str = ""
    detail: str = ""  # which variant of the fault, for the report

    @property
    def endpoint(self) -> str:
        return self.target.split("?", 1)[0]

    def describe(self, limit: int = 300) -> str:
        """A one-line reproducer: method, target, content type and the body's start."""
        target = self.target if len(self.target) <= limit else f"{self.target[:limit]}... ({len(self.target)} chars)"
        text = f"{self.method} {target}"
        if self.detail:
            text = f"({self.detail}) {text}"
        if self.content_type:
            text += f" [{self.content_type[:80]}]"
        if self.body:
            head = self.body[:limit]
            more = f"... ({len(self.body)} bytes)" if len(self.body) > limit else ""
            text += f" body={head!r}{more}"
        return text


def dumps(value: Any) -> bytes:
    """JSON bytes of `value`, `Raw` values spliced in verbatim. Lone surrogates come out
    as `\\ud800` escapes (ASCII output), which is how a client would send them."""
    raws: list[str] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, Raw):
            raws.append(obj.text)
            return _MARK.format(len(raws) - 1)
        raise TypeError(f"not JSON: {type(obj).__name__}")

    text = json.dumps(value, default=default, ensure_ascii=True, check_circular=False)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(_MARK.format(index)), raw, 1)
    return text.encode("utf-8")


def nested_text(depth: int, kind: str = "list", leaf: str = "1") -> str:
    """`depth` levels of arrays or objects around `leaf`, as text (no recursion)."""
    if kind == "list":
        return "[" * depth + leaf + "]" * depth
    return '{"a":' * depth + leaf + "}" * depth
