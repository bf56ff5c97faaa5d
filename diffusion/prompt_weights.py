"""Prompt emphasis syntax, as ComfyUI reads it.

``(text)`` multiplies the weight by 1.1 and nested parentheses multiply again;
``(text:1.3)`` sets the weight to 1.3 (an explicit weight replaces the enclosing one, as in
ComfyUI); ``\\(`` and ``\\)`` are literal parentheses. Unbalanced parentheses never raise:
a ``)`` with nothing open and a ``(`` that is never closed stay in the text as literal
characters. ``embedding:name`` is ordinary text here; the text encoder decides what to do
with it.
"""
from __future__ import annotations

EMPHASIS = 1.1
EMBEDDING_PREFIX = "embedding:"

# Escaped parentheses are hidden behind control characters while parsing, then restored.
_ESC_CLOSE, _ESC_OPEN = "\0\1", "\0\2"


def _split_top_level(text: str) -> list[str]:
    """Split into plain runs and balanced top-level ``( ... )`` groups (kept with parens)."""
    parts: list[str] = []
    current = ""
    depth = 0
    for ch in text:
        if ch == "(":
            if depth == 0 and current:
                parts.append(current)
                current = ""
            current += ch
            depth += 1
        elif ch == ")" and depth > 0:
            current += ch
            depth -= 1
            if depth == 0:
                parts.append(current)
                current = ""
        else:  # ordinary character, or a ")" with nothing open (literal)
            current += ch
    if current:
        if depth > 0:  # an unclosed "(": everything from it on is literal text
            current = current.replace("(", _ESC_OPEN).replace(")", _ESC_CLOSE)
        parts.append(current)
    return parts


def _weights(text: str, weight: float) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for part in _split_top_level(text):
        if len(part) >= 2 and part[0] == "(" and part[-1] == ")":
            inner = part[1:-1]
            inner_weight = weight * EMPHASIS
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1 :])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out += _weights(inner, inner_weight)
        else:
            out.append((part, weight))
    return out


def parse_prompt_weights(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into ``(segment, weight)`` pairs, in order; escapes are resolved.

    Empty segments are dropped (an empty prompt gives ``[]``). Neighbouring segments are
    not merged, even at equal weights: ``(a:1.2)(b:1.2)`` is the words ``a`` and ``b``,
    not ``ab``.
    """
    text = text.replace("\\)", _ESC_CLOSE).replace("\\(", _ESC_OPEN)
    out: list[tuple[str, float]] = []
    for segment, weight in _weights(text, 1.0):
        segment = segment.replace(_ESC_CLOSE, ")").replace(_ESC_OPEN, "(")
        if segment:
            out.append((segment, weight))
    return out
