"""POST /prompt cases: a small valid workflow with one fault put in, labelled by kind.

Each generator takes a seeded `random.Random` and the `/object_info` schema and returns
one Case; the same seed gives the same bytes, so a finding can be replayed.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from .fuzz_core import Case, Raw, dumps, nested_text
from .fuzz_workflows import Workflow, build, input_type, options, request_body

Generator = Callable[[random.Random, dict], Case]

DIGITS_400 = "1" * 400
WRONG_TYPES: tuple[Any, ...] = (
    None, True, False, [], {}, [1, 2], {"a": 1}, "abc", "", " 7 ", "0x10", 1.5, -0.0, [["1", 0]], "\x00", [[[]]],
)
HUGE: tuple[Any, ...] = (
    Raw(DIGITS_400), Raw("-" + "9" * 400), Raw("7" * 5000), 2**63, -(2**63) - 1, 2**64, 1e308, -1e308,
    Raw("1e999"), Raw("-1e999"), 5e-324, Raw("1e-999"), 2**53 + 1, Raw("1" + "0" * 400 + ".5"), Raw("1E+400"),
)
NAN_LIKE: tuple[Any, ...] = (
    Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("-1e999"),
    "NaN", "nan", "inf", "-inf", "Infinity", "1e999",
)
PREFIXES = (
    "../x", "../../x", "../../../../../../tmp/fuzz_escape", "/tmp/fuzz_abs/x", "a" * 300, "d/" * 100 + "x",
    "", ".", "..", "x/..", "sub/../../x", "~/x", "..\\x", "C:\\x", "a\x00b", "%2e%2e/x", "con", "x/", "/",
    "\u202eevil", "ключ/файл", "a:b", "a\nb", " ", "x" * 255, "x/" + "y" * 255,
)
DEPTHS = (100, 1000, 1000, 1000, 5000, 100_000)
PNGINFO: tuple[Any, ...] = (
    "just a string", ["a", "list"], 5, None, True, {"ключ": "значение"}, {"\u00e9t\u00e9": 1},
    {"\ud800": 1}, {"a\x00b": 1}, {"": 1}, {"workflow": "x" * 100_000}, {"workflow": Raw(nested_text(1000))},
    {"k": "\ud800"}, {"workflow": {"nodes": "no"}}, {str(i): i for i in range(500)}, {"parameters": "\x00"},
    {"😀": "😀"},
)


def post(kind: str, body: Any, detail: str = "", content_type: str = "application/json") -> Case:
    data = body if isinstance(body, bytes) else dumps(body)
    return Case(kind, "POST", "/prompt", data, content_type, detail)


def _value_spot(rng: random.Random, flow: Workflow) -> tuple[str, str, list]:
    if flow.values:
        return rng.choice(flow.values)
    node_id, name = rng.choice(flow.links)
    return node_id, name, ["*", {}]


def _inputs(flow: Workflow, node_id: str) -> dict:
    return flow.prompt[node_id]["inputs"]


def _spot_setter(rng: random.Random, flow: Workflow, body: dict) -> tuple[str, Callable[[Any], None]]:
    """Somewhere in the request a value can go: an input, a link, a node, the prompt, a field."""
    node_id, name, _ = _value_spot(rng, flow)
    link_id, link_name = rng.choice(flow.links) if flow.links else (node_id, name)
    spots: dict[str, Callable[[Any], None]] = {
        "value": lambda v: _inputs(flow, node_id).__setitem__(name, v),
        "link_slot": lambda v: _inputs(flow, link_id).__setitem__(link_name, [_inputs(flow, link_id)[link_name][0], v]),
        "link": lambda v: _inputs(flow, link_id).__setitem__(link_name, v),
        "node": lambda v: flow.prompt.__setitem__(node_id, v),
        "inputs": lambda v: flow.prompt[node_id].__setitem__("inputs", v),
        "class_type": lambda v: flow.prompt[node_id].__setitem__("class_type", v),
        "prompt": lambda v: body.__setitem__("prompt", v),
        "extra_data": lambda v: body.__setitem__("extra_data", v),
        "extra_pnginfo": lambda v: body["extra_data"].__setitem__("extra_pnginfo", v),
        "number": lambda v: body.__setitem__("number", v),
        "client_id": lambda v: body.__setitem__("client_id", v),
        "prompt_id": lambda v: body.__setitem__("prompt_id", v),
        "front": lambda v: body.__setitem__("front", v),
    }
    where = "value" if rng.random() < 0.35 else rng.choice(sorted(spots))  # node inputs are the richest spot
    return where, spots[where]


def _start(rng: random.Random, schema: dict) -> tuple[Workflow, dict]:
    flow = build(rng, schema)
    return flow, request_body(flow)


def valid(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    return post("prompt.valid", body)


def wrong_type(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id, name, entry = _value_spot(rng, flow)
    value = rng.choice(WRONG_TYPES)
    _inputs(flow, node_id)[name] = value
    return post("prompt.wrong_type", body, f"{name}={value!r}")


def out_of_range(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id, name, entry = _value_spot(rng, flow)
    kind, opts = input_type(entry), options(entry)
    if kind == "COMBO":
        choices = entry[0] or ["x"]
        pick = rng.choice(choices)
        value: Any = rng.choice(["nonexistent.png", "", pick + " ", pick.upper(), "../" + pick, pick + "\x00"])
    elif kind in ("INT", "FLOAT"):
        low, high = opts.get("min", 0), opts.get("max", 2**63)
        step = opts.get("step", 1) or 1
        value = rng.choice([low - step, low - 1, high + step, high + 1, -(2**63), -1, low - 0.5, high * 2])
    else:
        value = rng.choice(WRONG_TYPES)
    _inputs(flow, node_id)[name] = value
    return post("prompt.out_of_range", body, f"{name}={value!r}")


def _spot_case(kind: str, values: tuple[Any, ...]) -> Generator:
    def generate(rng: random.Random, schema: dict) -> Case:
        flow, body = _start(rng, schema)
        where, put = _spot_setter(rng, flow, body)
        value = rng.choice(values)
        put(value)
        shown = f"Raw({value.text[:40]}...)" if isinstance(value, Raw) else repr(value)[:60]
        return post(kind, body, f"{where}={shown}")

    return generate


def deep_nesting(rng: random.Random, schema: dict) -> Case:
    depth, shape = rng.choice(DEPTHS), rng.choice(["list", "dict"])
    text = nested_text(depth, shape)
    if rng.random() < 0.15:
        return post("prompt.deep_nesting", text.encode(), f"whole body {shape} depth={depth}")
    flow, body = _start(rng, schema)
    where, put = _spot_setter(rng, flow, body)
    put(Raw(text))
    return post("prompt.deep_nesting", body, f"{where}: {shape} depth={depth}")


def long_int(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    where, put = _spot_setter(rng, flow, body)
    digits = rng.choice([400, 400, 4300, 4301, 10_000])
    put(Raw(rng.choice(["", "-"]) + "9" * digits))
    return post("prompt.long_int", body, f"{where}={digits} digits")


def missing_field(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id = rng.choice(sorted(flow.prompt))
    node = flow.prompt[node_id]
    choice = rng.choice(["input", "class_type", "inputs", "prompt", "empty_prompt", "null_prompt", "outputs", "link"])
    if choice == "input" and node["inputs"]:
        node["inputs"].pop(rng.choice(sorted(node["inputs"])))
    elif choice in ("class_type", "inputs"):
        node.pop(choice)
    elif choice == "prompt":
        body.pop("prompt")
    elif choice == "empty_prompt":
        body["prompt"] = {}
    elif choice == "null_prompt":
        body["prompt"] = None
    elif choice == "outputs":
        for out in flow.outputs:
            flow.prompt.pop(out, None)
    elif flow.links:
        source = _inputs(flow, flow.links[0][0])[flow.links[0][1]][0]
        flow.prompt.pop(source, None)
    return post("prompt.missing_field", body, choice)


def not_object(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id = rng.choice(sorted(flow.prompt))
    value = rng.choice([[], ["SaveImage"], "SaveImage", 5, None, True, [["1", 0]]])
    where = rng.choice(["node", "inputs", "prompt", "_meta"])
    if where == "node":
        flow.prompt[node_id] = value
    elif where == "inputs":
        flow.prompt[node_id]["inputs"] = value
    elif where == "prompt":
        body["prompt"] = value
    else:
        flow.prompt[node_id]["_meta"] = value
    return post("prompt.not_object", body, f"{where}={value!r}")


def bad_link(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id, name = rng.choice(flow.links)
    source = _inputs(flow, node_id)[name][0]
    link = rng.choice([
        [source, -1], [source, 99], [source, "0"], [source, 1.5], [source, Raw(DIGITS_400)], ["999", 0], [source],
        [source, 0, 0], [int(source), 0], [None, 0], [node_id, 0], [], ["", 0], [source, True], [source, None],
        ["../1", 0], [source, -(2**63)], [source, Raw("1e999")], [[source], 0], [{"id": source}, 0], [source, -0.0],
    ])
    _inputs(flow, node_id)[name] = link
    return post("prompt.bad_link", body, f"{name}={link!r}"[:120])


def cycle(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    shape = rng.choice(["self", "back_edge", "pair", "ring"])
    if shape == "self" and flow.links:
        node_id, name = rng.choice(flow.links)
        _inputs(flow, node_id)[name] = [node_id, 0]
    elif shape == "back_edge" and len(flow.links) > 1:
        first, name = flow.links[0]
        last = flow.links[-1][0]
        source = _inputs(flow, flow.links[-1][0])[flow.links[-1][1]][0]
        _inputs(flow, first)[name] = [source if source != first else last, 0]
    else:
        size = 2 if shape == "pair" else rng.choice([3, 50, 500])
        for i in range(size):
            flow.prompt[f"c{i}"] = {"class_type": "ImageInvert", "inputs": {"image": [f"c{(i + 1) % size}", 0]}}
        flow.prompt["cs"] = {"class_type": "SaveImage", "inputs": {"images": ["c0", 0], "filename_prefix": "cycle"}}
    return post("prompt.cycle", body, shape)


def long_string(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    char = rng.choice(["x", "é", "😀", "\\", "\""])
    size = rng.choice([10_000, 100_000, 1_000_000]) // (1 if char == "x" else 4)
    text = char * size
    where = rng.choice(["value", "class_type", "node_id", "input_name", "combo"])
    node_id, name, entry = _value_spot(rng, flow)
    if where == "value":
        _inputs(flow, node_id)[name] = text
    elif where == "class_type":
        flow.prompt[node_id]["class_type"] = text
    elif where == "node_id":
        flow.prompt[text] = flow.prompt.pop(node_id)
    elif where == "input_name":
        _inputs(flow, node_id)[text] = 1
    else:
        _inputs(flow, node_id)[name] = text[:300] + ".png"
    return post("prompt.long_string", body, f"{where} {size}x{text[0]!r}")


def _odd_text_case(kind: str, odd: tuple[str, ...]) -> Generator:
    """Put an odd character into a key or string of the request."""

    def generate(rng: random.Random, schema: dict) -> Case:
        flow, body = _start(rng, schema)
        char = rng.choice(odd)
        node_id, name, entry = _value_spot(rng, flow)
        where = rng.choice(["value", "class_type", "node_id", "input_name", "client_id", "prompt_id", "pnginfo_key",
                            "filename_prefix"])
        if where == "value":
            _inputs(flow, node_id)[name] = f"a{char}b"
        elif where == "class_type":
            flow.prompt[node_id]["class_type"] += char
        elif where == "node_id":
            flow.prompt[f"{node_id}{char}"] = flow.prompt.pop(node_id)
        elif where == "input_name":
            _inputs(flow, node_id)[f"{name}{char}"] = _inputs(flow, node_id).pop(name)
        elif where in ("client_id", "prompt_id"):
            body[where] = f"id{char}{rng.randrange(10**9)}"
        elif where == "pnginfo_key":
            body["extra_data"]["extra_pnginfo"][f"k{char}"] = f"v{char}"
        else:
            savers = [node for node in flow.prompt.values() if "filename_prefix" in node["inputs"]]
            for node in savers:
                node["inputs"]["filename_prefix"] = f"fuzz{char}x"
            if not savers:
                where = "value"
                _inputs(flow, node_id)[name] = f"a{char}b"
        return post(kind, body, f"{where} {char!r}")

    return generate


def invalid_utf8(rng: random.Random, schema: dict) -> Case:
    """Bytes that are not UTF-8 inside a JSON string (the body is otherwise valid)."""
    flow, body = _start(rng, schema)
    data = dumps(body)
    bad = rng.choice([b"\xff", b"\xed\xa0\x80", b"\xc0\xae", b"\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"])
    at = data.find(b'"fuzz"')
    data = data[: at + 1] + bad + data[at + 1:] if at >= 0 else data + bad
    return post("prompt.invalid_utf8", data, repr(bad))


def filename_prefix(rng: random.Random, schema: dict) -> Case:
    for _ in range(20):
        flow, body = _start(rng, schema)
        savers = [n for n, node in flow.prompt.items() if "filename_prefix" in node["inputs"]]
        if savers:
            break
    prefix = rng.choice(PREFIXES)
    for node_id in savers:
        _inputs(flow, node_id)["filename_prefix"] = prefix
    return post("prompt.filename_prefix", body, f"{prefix!r}"[:80])


def extra_pnginfo(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    value = rng.choice(PNGINFO)
    if rng.random() < 0.3:
        body["extra_data"] = rng.choice(["a string", ["list"], 5, None, {"extra_pnginfo": value, "preview_method": 5}])
        return post("prompt.extra_pnginfo", body, f"extra_data={body['extra_data']!r}"[:100])
    body["extra_data"]["extra_pnginfo"] = value
    shown = "Raw(...)" if "Raw" in repr(value) else repr(value)
    return post("prompt.extra_pnginfo", body, f"extra_pnginfo={shown}"[:100])


def top_level(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    good = dumps(body)
    variants: dict[str, bytes] = {
        "list": b"[]", "string": b'"x"', "number": b"5", "null": b"null", "empty": b"", "spaces": b" " * 1000,
        "bom": b"\xef\xbb\xbf" + good, "trailing": good + b" x", "two_values": good + good,
        "duplicate_keys": b'{"prompt": {}, ' + good[1:], "nan_body": b"NaN", "utf16": good.decode().encode("utf-16"),
        "only_prompt_null": b'{"prompt": null}', "huge_spaces": b" " * 3_000_000 + good,
    }
    name = rng.choice(sorted(variants))
    content_type = rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])
    return post("prompt.top_level", variants[name], f"{name} as {content_type or 'no type'}", content_type)


def unknown_class(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id = rng.choice(sorted(flow.prompt))
    value = rng.choice(["Nope", "", 5, None, [], {}, "SaveImage ", "__proto__", "constructor", "saveimage", "*"])
    flow.prompt[node_id]["class_type"] = value
    return post("prompt.unknown_class", body, f"class_type={value!r}")


def odd_node_ids(rng: random.Random, schema: dict) -> Case:
    """Rename a node (and the links to it) to an unusual id."""
    flow, body = _start(rng, schema)
    old = rng.choice(sorted(flow.prompt))
    new = rng.choice(["", " ", "0", "-1", "1e3", "../x", "n" * 500, "__proto__", "1.0", "１", "null", "1:2", "a/b"])
    flow.prompt = {(new if key == old else key): node for key, node in flow.prompt.items()}
    body["prompt"] = flow.prompt
    for node in flow.prompt.values():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value and value[0] == old:
                node["inputs"][name] = [new, value[1]]
    return post("prompt.odd_node_ids", body, f"{old!r}->{new!r}"[:80])


def hidden_inputs(rng: random.Random, schema: dict) -> Case:
    """Values for the hidden PROMPT / EXTRA_PNGINFO / UNIQUE_ID inputs, sent by a client."""
    flow, body = _start(rng, schema)
    node_id = rng.choice(flow.outputs or sorted(flow.prompt))
    name = rng.choice(["prompt", "extra_pnginfo", "unique_id", "dynprompt", "ctx", "self"])
    value = rng.choice(["x", 5, None, [], {"a": 1}, ["1", 0]])
    _inputs(flow, node_id)[name] = value
    return post("prompt.hidden_inputs", body, f"{name}={value!r}")


def extra_inputs(rng: random.Random, schema: dict) -> Case:
    flow, body = _start(rng, schema)
    node_id = rng.choice(sorted(flow.prompt))
    count = rng.choice([1, 1000])
    for i in range(count):
        _inputs(flow, node_id)[f"extra{i}"] = rng.choice([1, "x", ["1", 0], ["999", 0], None])
    return post("prompt.extra_inputs", body, f"{count} unknown inputs")


def byte_mutation(rng: random.Random, schema: dict) -> Case:
    """A valid body with a few bytes flipped, inserted, dropped or repeated."""
    flow, body = _start(rng, schema)
    data = bytearray(dumps(body))
    ops = []
    for _ in range(rng.randint(1, 4)):
        op, at = rng.choice(["flip", "insert", "delete", "repeat", "truncate"]), rng.randrange(len(data))
        if op == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif op == "insert":
            data[at:at] = bytes([rng.choice([0, 0x22, 0x5C, 0x7B, 0x5B, 0xFF, 0x2C, 0x3A, rng.randrange(256)])])
        elif op == "delete":
            del data[at:at + rng.randint(1, 8)]
        elif op == "repeat":
            data[at:at] = data[at:at + rng.randint(1, 32)] * rng.randint(2, 50)
        else:
            del data[at:]
        ops.append(f"{op}@{at}")
        if not data:
            break
    return post("prompt.bytes", bytes(data), " ".join(ops))


NUMBERS: tuple[Any, ...] = (
    Raw("1e999"), Raw("-1e999"), 2**63, -(2**63), 2**53, 2**53 + 1, "5", "", [], {}, True, None, 1.5, -0.0,
    Raw(DIGITS_400), Raw("NaN"), 1e308, 0, -1,
)
CLIENT_IDS: tuple[Any, ...] = (
    "c" * 10_000, "c" * 1_000_000, "", 5, [], {}, "\x00", "\ud800", "../x", " ", True, "é" * 5000,
)
PROMPT_IDS: tuple[Any, ...] = (
    "../x", " ", "", "p" * 129, "\x00", "\ud800", 5, [], None, "fuzz-fixed", "\t", "a b", "%2e%2e", "é" * 128,
    "😀" * 128, "/", "..", "\u202e", "x?y#z",
)
FRONT: tuple[Any, ...] = ("yes", 1, 0, None, [], Raw("1e999"), "true", False)


def _field_case(kind: str, name: str, values: tuple[Any, ...]) -> Generator:
    """A top-level field of the body set to one of `values` (a fresh id sometimes)."""

    def generate(rng: random.Random, schema: dict) -> Case:
        flow, body = _start(rng, schema)
        value = rng.choice(values)
        if name == "prompt_id" and rng.random() < 0.2:
            value = f"fuzz-{rng.randrange(10**12)}"
        body[name] = value
        shown = f"Raw({value.text[:40]})" if isinstance(value, Raw) else repr(value)
        return post(kind, body, f"{name}={shown[:60]}" + (f" ({len(value)} chars)" if isinstance(value, str) else ""))

    return generate


GENERATORS: dict[str, Generator] = {
    "prompt.valid": valid,
    "prompt.wrong_type": wrong_type,
    "prompt.out_of_range": out_of_range,
    "prompt.huge_number": _spot_case("prompt.huge_number", HUGE),
    "prompt.nan_like": _spot_case("prompt.nan_like", NAN_LIKE),
    "prompt.long_int": long_int,
    "prompt.deep_nesting": deep_nesting,
    "prompt.missing_field": missing_field,
    "prompt.not_object": not_object,
    "prompt.bad_link": bad_link,
    "prompt.cycle": cycle,
    "prompt.long_string": long_string,
    "prompt.nul_bytes": _odd_text_case("prompt.nul_bytes", ("\x00",)),
    "prompt.surrogate": _odd_text_case("prompt.surrogate", ("\ud800", "\udfff", "\udbff", "\ud83d")),
    "prompt.invalid_utf8": invalid_utf8,
    "prompt.filename_prefix": filename_prefix,
    "prompt.extra_pnginfo": extra_pnginfo,
    "prompt.number": _field_case("prompt.number", "number", NUMBERS),
    "prompt.client_id": _field_case("prompt.client_id", "client_id", CLIENT_IDS),
    "prompt.prompt_id": _field_case("prompt.prompt_id", "prompt_id", PROMPT_IDS),
    "prompt.front": _field_case("prompt.front", "front", FRONT),
    "prompt.top_level": top_level,
    "prompt.unknown_class": unknown_class,
    "prompt.odd_node_ids": odd_node_ids,
    "prompt.hidden_inputs": hidden_inputs,
    "prompt.extra_inputs": extra_inputs,
    "prompt.bytes": byte_mutation,
}
