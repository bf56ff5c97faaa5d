"""Primitive value nodes, the lazy switch, a free-text combo and a text preview of any value
(ComfyUI's utils/primitive, logic and utils nodes)."""
from __future__ import annotations

import json
import sys
from typing import Any

from .registry import Node, register_node
from .spec import ANY_TYPE, Boolean, Float, Int, NodeOutput, Output, Socket, String

PRIMITIVE = "utils/primitive"


@register_node("PrimitiveString", category=PRIMITIVE, display_name="String")
class PrimitiveString(Node):
    """A text value."""

    value = String()
    OUTPUTS = (Output("STRING", "STRING"),)

    def execute(self, ctx, value: str) -> tuple:
        return (value,)


@register_node("PrimitiveStringMultiline", category=PRIMITIVE, display_name="String (Multiline)")
class PrimitiveStringMultiline(Node):
    """A text value typed in a multi-line box."""

    value = String(multiline=True)
    OUTPUTS = (Output("STRING", "STRING"),)

    def execute(self, ctx, value: str) -> tuple:
        return (value,)


@register_node("PrimitiveInt", category=PRIMITIVE, display_name="Int")
class PrimitiveInt(Node):
    """A whole number (with the seed-style control after each queue)."""

    value = Int(default=0, min=-sys.maxsize, max=sys.maxsize, control_after_generate=True)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, value: int) -> tuple:
        return (value,)


@register_node("PrimitiveFloat", category=PRIMITIVE, display_name="Float")
class PrimitiveFloat(Node):
    """A decimal number."""

    value = Float(default=0.0, min=-sys.maxsize, max=sys.maxsize, step=0.1)
    OUTPUTS = (Output("FLOAT", "FLOAT"),)

    def execute(self, ctx, value: float) -> tuple:
        return (value,)


@register_node("PrimitiveBoolean", category=PRIMITIVE, display_name="Boolean")
class PrimitiveBoolean(Node):
    """True or false."""

    value = Boolean(default=False)
    OUTPUTS = (Output("BOOLEAN", "BOOLEAN"),)

    def execute(self, ctx, value: bool) -> tuple:
        return (value,)


@register_node("ComfySwitchNode", category="logic", display_name="Switch")
class ComfySwitchNode(Node):
    """on_true or on_false by the switch; only the chosen branch is computed."""

    switch = Boolean(default=False)
    on_false = Socket(ANY_TYPE, lazy=True)
    on_true = Socket(ANY_TYPE, lazy=True)
    OUTPUTS = (Output(ANY_TYPE, "output"),)

    def check_lazy_status(self, ctx, switch: bool, on_false: Any = None, on_true: Any = None) -> list[str]:
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def execute(self, ctx, switch: bool, on_false: Any = None, on_true: Any = None) -> tuple:
        return (on_true if switch else on_false,)


@register_node("CustomCombo", category="utils", display_name="Custom Combo")
class CustomCombo(Node):
    """A choice from options the user types in the editor; the chosen text is the output."""

    choice = String(default="")
    OUTPUTS = (Output("STRING", "STRING"),)

    def execute(self, ctx, choice: str) -> tuple:
        return (choice,)


def as_text(value: Any) -> str:
    """How PreviewAny shows a value: text as is, numbers as written, the rest as JSON where
    it can be."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    try:
        return json.dumps(value, indent=4)
    except (TypeError, ValueError):
        try:
            return str(value)
        except Exception:  # a value whose own __str__ fails
            return f"<{type(value).__name__} that cannot be shown as text>"


@register_node("PreviewAny", category="utils", display_name="Preview as Text", output_node=True)
class PreviewAny(Node):
    """Shows any value as text on the node."""

    source = Socket(ANY_TYPE)
    OUTPUTS = ()

    def execute(self, ctx, source: Any = None) -> NodeOutput:
        return NodeOutput((), {"text": [as_text(source)]})
