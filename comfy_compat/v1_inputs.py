"""A V1 class's INPUT_TYPES -> this engine's input descriptors, with ComfyUI's checks.

ComfyUI converts INT/FLOAT/STRING/BOOLEAN constants and checks min/max and combo lists;
inputs named in the node's VALIDATE_INPUTS signature skip those checks (the node checks
them); constants on any other type pass through as they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from nodes.spec import SOCKET_TYPES, Input, InputValueError, Socket
from nodes.text_checks import check_int_range, check_text

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")
HIDDEN_SECTION = "hidden"


class InputTypesError(TypeError):
    """INPUT_TYPES returned something ComfyUI could not use either."""


@dataclass(frozen=True)
class V1Input(Input):
    """One declared V1 input: its type and options as the pack wrote them."""

    kind: Any = None  # the declared type: a name, or a list of choices
    settings: Any = None  # the options dict (read-only use)
    checked: bool = True  # False: the node's VALIDATE_INPUTS checks the value

    def coerce(self, value: Any, folders: Any = None) -> Any:
        kind, opts = self.kind, self.settings or {}
        try:
            if kind == "INT":
                value = int(value)
            elif kind == "FLOAT":
                value = float(value)
            elif kind == "STRING":
                value = check_text(self.name, str(value))
            elif kind == "BOOLEAN":
                value = bool(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputValueError("invalid_input_type",
                                  f"Failed to convert an input value to a {kind} value",
                                  f"{self.name}, {value!r}, {exc}") from None
        if not self.checked:
            return value
        if kind in ("INT", "FLOAT"):
            if kind == "INT":
                check_int_range(self.name, value, opts.get("min"), opts.get("max"))
            if kind == "FLOAT" and not math.isfinite(value):
                raise InputValueError("invalid_input_type", f"input '{self.name}' must be a finite number", self.name)
            low, high = opts.get("min"), opts.get("max")
            if low is not None and value < low:
                raise InputValueError("value_smaller_than_min", f"Value {value} smaller than min of {low}",
                                      f"{self.name}")
            if high is not None and value > high:
                raise InputValueError("value_bigger_than_max", f"Value {value} bigger than max of {high}",
                                      f"{self.name}")
        elif _is_combo(kind):
            choices = combo_choices(kind, opts)
            if value not in choices:
                shown = ", ".join(map(str, choices[:20])) + (" ..." if len(choices) > 20 else "")
                raise InputValueError("value_not_in_list", f"Value not in list: {self.name}: '{value}' not in [{shown}]",
                                      f"{self.name}: '{value}' not in list")
        return value


def _is_combo(kind: Any) -> bool:
    return isinstance(kind, (list, tuple)) or kind == "COMBO"


def combo_choices(kind: Any, opts: dict) -> list:
    if kind == "COMBO":
        return list(opts.get("options", []))
    return list(kind)


HIDDEN_KINDS = ("PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG")


def hidden_inputs(input_types: dict) -> dict[str, str]:
    """name -> hidden kind, for the kinds ComfyUI fills (others are ignored, as there)."""
    hidden = input_types.get(HIDDEN_SECTION) or {}
    out = {}
    for name, value in hidden.items():
        kind = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(kind, str) and kind in HIDDEN_KINDS:
            out[str(name)] = kind
    return out


def declared(input_types: Any) -> Iterable[tuple[str, str, Any, dict]]:
    """(section, name, type, options) for each required and optional input, in order."""
    if not isinstance(input_types, dict):
        raise InputTypesError(f"INPUT_TYPES() returned {type(input_types).__name__}, not a dict")
    for section in ("required", "optional"):
        entries = input_types.get(section) or {}
        if not isinstance(entries, dict):
            raise InputTypesError(f"INPUT_TYPES()['{section}'] is {type(entries).__name__}, not a dict")
        for name, value in entries.items():
            if isinstance(value, (list, tuple)) and value:
                kind = value[0]
                opts = value[1] if len(value) > 1 and isinstance(value[1], dict) else {}
            else:
                kind, opts = value, {}
            yield section, str(name), kind, opts


def input_specs(input_types: Any, self_checked: Optional[set[str]] = None, check_types: bool = True) -> tuple:
    """The descriptors for the engine. `self_checked`: inputs the node validates itself
    (None: every input, for a VALIDATE_INPUTS taking **kwargs). `check_types` False: the
    node asks for input_types and checks link types itself."""
    specs: list[Input] = []
    for section, name, kind, opts in declared(input_types):
        optional = section == "optional"
        lazy = bool(opts.get("lazy", False))
        own = self_checked is None or name in self_checked
        any_link = not check_types and own
        force = bool(opts.get("forceInput", False))
        if isinstance(kind, str) and kind in SOCKET_TYPES:
            specs.append(Socket(kind, optional=optional, name=name, lazy=lazy, any_link_type=any_link))
        else:
            kind = _type_name(kind)
            specs.append(V1Input(type=kind, optional=optional, name=name, lazy=lazy, force_input=force,
                                 any_link_type=any_link, kind=kind, settings=opts, checked=not own))
    return tuple(specs)


def _type_name(kind: Any) -> Any:
    """The type links are matched against: a combo's list, or the declared name."""
    if isinstance(kind, tuple):
        return list(kind)
    return kind
