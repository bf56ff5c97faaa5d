"""Which browser editor the server serves: the studio's own (the default), ComfyUI's
frontend from the installed `comfyui-frontend-package`, or any folder given by path."""
from __future__ import annotations

import argparse
from pathlib import Path

from server.config import REPO_DIR

STUDIO_FRONTEND = REPO_DIR / "frontend"
CHOICES = ("studio", "comfy")
INSTALL_HINT = "./run.sh --front-end comfy installs it (or: .venv/bin/pip install -r requirements-comfy-frontend.txt)"


class FrontendMissing(SystemExit):
    """The chosen editor is not there; the message says how to get it."""


def comfy_frontend_dir() -> Path:
    """The static files of the installed comfyui-frontend-package."""
    try:
        import comfyui_frontend_package
    except ImportError:
        raise FrontendMissing(f"ComfyUI's frontend is not installed: {INSTALL_HINT}") from None
    static = Path(comfyui_frontend_package.__file__).resolve().parent / "static"
    if not (static / "index.html").is_file():
        raise FrontendMissing(f"comfyui-frontend-package has no static/index.html at {static}: reinstall it")
    return static


def frontend_dir(args: argparse.Namespace) -> Path:
    if args.front_end_root:
        root = Path(args.front_end_root).expanduser().resolve()
        if not (root / "index.html").is_file():
            raise FrontendMissing(f"--front-end-root {root}: no index.html there")
        return root
    return comfy_frontend_dir() if args.front_end == "comfy" else STUDIO_FRONTEND


def add_frontend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--front-end", choices=CHOICES, default="studio",
                        help="the editor to serve: studio (this app's, the default) or comfy "
                             "(ComfyUI's own, from comfyui-frontend-package)")
    parser.add_argument("--front-end-root", default=None, metavar="DIR",
                        help="serve the editor in DIR instead (a built ComfyUI frontend, for example)")
    parser.add_argument("--multi-user", action="store_true",
                        help="several users, each with their own settings and workflows (the Comfy-User header)")
