"""Opening ONNX models with onnxruntime (the GPU's provider when it has one) and saying
what a model's inputs and outputs are, for errors that name them."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

_loaded: dict[tuple[str, str, int, int], Any] = {}
_lock = threading.RLock()


def providers() -> list[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    preferred = [name for name in ("CUDAExecutionProvider", "CoreMLExecutionProvider") if name in available]
    return preferred + ["CPUExecutionProvider"]


def by_file(path: Path, what: str, make: Callable[[], Any]) -> Any:
    """`make()` once per file and version of it (modification time and size)."""
    stat = path.stat()
    key = (what, str(path), stat.st_mtime_ns, stat.st_size)
    with _lock:
        if key not in _loaded:
            _loaded[key] = make()
        return _loaded[key]


def open_session(path: Path) -> Any:
    """The file's onnxruntime session, opened once."""
    import onnxruntime

    def make() -> Any:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            return onnxruntime.InferenceSession(str(path), options, providers=providers())
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{path.name} could not be opened as an ONNX model: {error}") from error

    return by_file(path, "session", make)


def describe(arguments: list[Any]) -> str:
    """'target [1, 3, 128, 128] (float), source [1, 512] (float)'."""
    def one(argument: Any) -> str:
        kind = str(argument.type).replace("tensor(", "").rstrip(")")
        return f"{argument.name} {list(argument.shape)} ({kind})"

    return ", ".join(one(argument) for argument in arguments) or "none"


def side_of(shape: list[Any]) -> int | None:
    """The square side of an N x 3 x S x S image input (None when it is not one)."""
    if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
        return None
    return shape[2]


def forget_sessions() -> None:
    """Drop every opened model (their memory is freed once nothing else holds them)."""
    with _lock:
        _loaded.clear()
