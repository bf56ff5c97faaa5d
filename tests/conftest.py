"""Shared fixtures: app folders holding tiny random-weight checkpoints (tests/tiny_models.py).

`make_app_dir` and `make_folders` are factories, so each test module says what its app
holds and keeps its own fixture scope (a module fixture calls them once per module; a
function fixture passes `base=tmp_path`):

    @pytest.fixture(scope="module")
    def folders(make_folders):
        return make_folders({"sd1.safetensors": ModelFamily.SD1,
                             "sd2.safetensors": {"family": ModelFamily.SD2, "v_pred": True}}, input=True)

`folders` (one tiny SD1 checkpoint, models/checkpoints/sd1.safetensors), `executor` (an
Executor on `folders`) and `parts` (that checkpoint loaded on the CPU in float32) are
module-scoped defaults; a module that needs other files overrides `folders`, and
`executor` and `parts` follow it.

Heavy imports stay inside the fixtures: tests/browser/ shares this file.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import pytest

ROOT = Path(__file__).resolve().parent.parent

# file name in models/checkpoints -> a ModelFamily (or its value), or write_tiny_checkpoint's keywords
Checkpoints = Mapping[str, Union[str, Mapping[str, Any]]]


def _populate(base: Path, checkpoints: Checkpoints, dirs: Iterable[str], input: bool, builtin: bool) -> Path:
    from tests.tiny_models import write_tiny_checkpoint

    if input:
        (base / "input").mkdir(parents=True, exist_ok=True)
    models = base / "models"
    if checkpoints or builtin:
        (models / "checkpoints").mkdir(parents=True, exist_ok=True)
    for kind in dirs:
        (models / kind).mkdir(parents=True, exist_ok=True)
    for name, spec in checkpoints.items():
        options = dict(spec) if isinstance(spec, Mapping) else {"family": spec}
        write_tiny_checkpoint(models / "checkpoints" / name, **options)
    if builtin:  # a copy: the loader refuses symlinks that leave the models folder
        from training.train import DEFAULT_NAME

        shutil.copyfile(ROOT / "models" / "checkpoints" / DEFAULT_NAME, models / "checkpoints" / DEFAULT_NAME)
    return base


@pytest.fixture(scope="session")
def make_app_dir(tmp_path_factory) -> Callable[..., Path]:
    """A factory for a fresh app base folder (each call a new one): `checkpoints` tiny
    checkpoints in models/checkpoints/, empty `dirs` under models/, `input=True` an empty
    input/, `builtin=True` a copy of the shipped built-in model; in `base` if given, else
    in tmp_path_factory.mktemp(`name`). Holds no state: it only hands out folders."""

    def make(checkpoints: Optional[Checkpoints] = None, *, dirs: Iterable[str] = (), input: bool = False,
             builtin: bool = False, name: str = "app", base: Optional[Path] = None) -> Path:
        base = Path(base) if base is not None else tmp_path_factory.mktemp(name)
        return _populate(base, checkpoints or {}, dirs, input, builtin)

    return make


@pytest.fixture(scope="session")
def make_folders(make_app_dir) -> Callable[..., Any]:
    """`make_app_dir`'s folder as the app's Folders (same arguments)."""
    from nodes.folders import Folders

    def make(*args, **kwargs) -> Folders:
        return Folders.under(make_app_dir(*args, **kwargs))

    return make


@pytest.fixture(scope="module")
def folders(make_folders):
    """App folders with one tiny SD1 checkpoint, models/checkpoints/sd1.safetensors."""
    from diffusion.types import ModelFamily

    return make_folders({"sd1.safetensors": ModelFamily.SD1})


@pytest.fixture(scope="module")
def executor(folders):
    """An Executor (core nodes) on this module's `folders`."""
    from executor.run import Executor

    return Executor(folders)


@pytest.fixture(scope="module")
def parts(folders):
    """models/checkpoints/sd1.safetensors of this module's `folders`, loaded on the CPU in float32."""
    import torch

    from diffusion.loader import load_checkpoint

    return load_checkpoint(folders.models / "checkpoints" / "sd1.safetensors", device=torch.device("cpu"),
                           dtype=torch.float32)


@pytest.fixture(scope="session")
def ray_pool(make_app_dir):
    """(base, runners): two CPU workers of one private local Ray cluster for the whole
    session, on app folders with tiny_a / tiny_b checkpoints and a ComfyUI-style pack."""
    pytest.importorskip("ray")
    from tests.ray_support import WORKER_TIMEOUT_S, ray_app_dir, ray_workers

    base = ray_app_dir(make_app_dir)
    with ray_workers(base, count=2, timeout_s=WORKER_TIMEOUT_S) as runners:
        yield base, runners
