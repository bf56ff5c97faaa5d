"""Every fuzz case generator by kind, shared by bench/fuzz_server.py and the fuzz test.

A case is a pure function of (kind, random source, /object_info schema): the bench
seeds one `random.Random` per case index, the test hands Hypothesis's random in.
`prepare_folders` makes the files and folders the cases refer to.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Optional

from .fuzz_core import Case
from .fuzz_png import png
from .fuzz_prompts import GENERATORS as PROMPT_GENERATORS
from .fuzz_upload import GENERATORS as UPLOAD_GENERATORS
from .fuzz_view import FOLDER
from .fuzz_view import GENERATORS as VIEW_GENERATORS

Generator = Callable[[random.Random, dict], Case]
GENERATORS: dict[str, Generator] = {**PROMPT_GENERATORS, **VIEW_GENERATORS, **UPLOAD_GENERATORS}
KINDS: tuple[str, ...] = tuple(GENERATORS)
# Share of cases per endpoint: POST /prompt has the most ways to go wrong.
ENDPOINT_WEIGHTS = {"prompt": 0.5, "view": 0.25, "upload": 0.25}


def make_case(rng: random.Random, schema: dict, kind: Optional[str] = None) -> Case:
    """One case of `kind` (or of a kind drawn with ENDPOINT_WEIGHTS)."""
    if kind is None:
        endpoints = list(ENDPOINT_WEIGHTS)
        endpoint = rng.choices(endpoints, [ENDPOINT_WEIGHTS[e] for e in endpoints])[0]
        kind = rng.choice([k for k in KINDS if k.startswith(endpoint + ".")])
    return GENERATORS[kind](rng, schema)


def case_at(seed: int, index: int, schema: dict) -> Case:
    """The `index`-th case of a run with `seed`: reproducible one by one."""
    return make_case(random.Random(f"{seed}:{index}"), schema)


def prepare_folders(input_dir: Path, output_dir: Path, temp_dir: Path) -> None:
    """A `fuzzdir/` with `inner.png` and `notes.txt` in each folder the cases name."""
    for root in (input_dir, output_dir, temp_dir):
        folder = Path(root) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "inner.png").write_bytes(png(8, 8, (10, 120, 200)))
        (folder / "notes.txt").write_text("not an image\n")
