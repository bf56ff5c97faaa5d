"""Why a pack failed to load, in one line a user can act on."""
from __future__ import annotations

import re
import traceback
from pathlib import Path

# Top-level module names that are ComfyUI's own (provided here, in part, by the surface).
COMFY_MODULES = frozenset({
    "comfy", "comfy_extras", "comfy_execution", "comfy_api", "comfy_api_nodes", "comfy_config", "folder_paths",
    "nodes", "server", "execution", "node_helpers", "latent_preview", "app", "utils", "cli_args", "protocol",
    "middleware", "new_updater", "main", "comfyui_version", "hook_breaker_ac10a0",
})

# import name -> pip package, for the modules packs most often miss
PIP_NAMES = {
    "cv2": "opencv-python-headless", "PIL": "pillow", "skimage": "scikit-image", "sklearn": "scikit-learn",
    "yaml": "pyyaml", "git": "GitPython", "dateutil": "python-dateutil", "bs4": "beautifulsoup4",
    "Crypto": "pycryptodome", "fitz": "PyMuPDF", "magic": "python-magic", "dotenv": "python-dotenv",
    "google.protobuf": "protobuf", "onnxruntime": "onnxruntime", "imageio_ffmpeg": "imageio-ffmpeg",
    "segment_anything": "segment-anything", "piexif": "piexif", "numba": "numba", "matplotlib": "matplotlib",
}
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)' from '([^']+)'")


def pip_name(module: str) -> str:
    top = module.split(".")[0]
    return PIP_NAMES.get(module, PIP_NAMES.get(top, top.replace("_", "-")))


def _pack_frame(exc: BaseException, entry: Path) -> str:
    """file:line of the innermost traceback frame inside the pack (where it broke)."""
    root = str(entry.resolve())
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            path = str(Path(frame.filename).resolve())
        except OSError:
            continue
        if path.startswith(root):
            found = f"{Path(path).relative_to(entry.resolve().parent)}:{frame.lineno}"
    return found


def describe_failure(exc: BaseException, pack: str, entry: Path) -> str:
    where = _pack_frame(exc, entry)
    at = f" (at {where})" if where else ""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top in COMFY_MODULES:
            return f"needs ComfyUI's module '{exc.name}', which this app does not provide{at}"
        return (f"missing Python module '{exc.name}' (pip package '{pip_name(exc.name)}'; see "
                f"`main.py nodes deps {pack}`){at}")
    if isinstance(exc, ImportError):
        match = _CANNOT_IMPORT.search(str(exc))
        if match:
            symbol, module = match.groups()
            if module.split(".")[0] in COMFY_MODULES:
                return f"needs '{symbol}' from ComfyUI's module '{module}', which this app does not provide{at}"
            return f"cannot import '{symbol}' from '{module}' (a different version of that package?){at}"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError in {exc.filename}:{exc.lineno}: {exc.msg}"
    if isinstance(exc, SystemExit):
        return f"the pack called sys.exit({exc.code!r}) while importing{at}"
    return f"{type(exc).__name__}: {exc}{at}"
