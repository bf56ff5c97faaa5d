"""The pictures the shipped templates name (`example.png`, `face.png`), drawn by the
project (scripts/make_example_inputs.py, kept in data/inputs/): put in the input folder
when it has no file of that name, so every template runs on its first Queue. A file the
user has there under that name is never replaced."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "inputs"


def provide_example_inputs(input_dir: Path, examples: Path = EXAMPLES) -> list[str]:
    """Copy each missing example into `input_dir`; returns the names it wrote."""
    written = []
    for source in sorted(examples.glob("*.png")):
        try:
            data = source.read_bytes()
            with open(Path(input_dir) / source.name, "xb") as out:  # exclusive: anything there stays
                out.write(data)
        except FileExistsError:
            continue
        except OSError as exc:
            log.warning("could not provide %s in %s: %s", source.name, input_dir, exc)
            continue
        written.append(source.name)
    return written
