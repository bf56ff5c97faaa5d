"""Model folders from another install, in ComfyUI's `extra_model_paths.yaml` format.

Each top-level section (`comfyui:`, `a111:`, any name) may set `base_path` (relative to
the YAML file; `~` and `$VARS` expanded) and `is_default` (its folders are searched
first), then `kind: path` entries; a value may hold several paths, one per line. A path
is relative to base_path, or to the YAML file's folder when there is none.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Optional, Union

from .folders import Folders

log = logging.getLogger(__name__)


class ExtraPathsError(ValueError):
    """The file is not YAML of the expected shape."""


def _expand(text: str) -> str:
    return os.path.expandvars(os.path.expanduser(text))


def load_extra_model_paths(config: Union[str, Path], folders: Folders) -> list[tuple[str, Path]]:
    """Add the file's folders to `folders`; returns the (kind, folder) pairs added."""
    import yaml

    config = Path(config)
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExtraPathsError(f"{config}: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ExtraPathsError(f"{config}: expected sections of `kind: path` entries")
    here = config.resolve().parent
    added = []
    for section, entries in data.items():
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ExtraPathsError(f"{config}: section '{section}' must map model kinds to paths")
        entries = dict(entries)
        base = entries.pop("base_path", None)
        base_path = None
        if base is not None:
            base_path = Path(_expand(str(base)))
            if not base_path.is_absolute():
                base_path = here / base_path
        is_default = bool(entries.pop("is_default", False))
        for kind, value in entries.items():
            for line in str(value).splitlines():
                line = line.strip()
                if not line:
                    continue
                path = Path(_expand(line))
                if not path.is_absolute():
                    path = (base_path or here) / path
                path = Path(os.path.normpath(path))
                folders.add_model_dir(str(kind), path, first=is_default)
                added.append((str(kind), path))
                log.info("extra model folder for %s: %s", kind, path)
    return added


def folders_with_extra_paths(base: Path, models: Optional[Path], configs: Iterable[Union[str, Path]]) -> Folders:
    """The app's folders under `base`, with the model folders of each config file added."""
    folders = Folders.under(Path(base), Path(models) if models else None)
    for config in configs:
        load_extra_model_paths(config, folders)
    return folders
