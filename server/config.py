"""Server settings, frozen and checked on construction (errors name the field)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional, Union

from nodes.folders import Folders

REPO_DIR = Path(__file__).resolve().parent.parent
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class PreviewMethod(str, Enum):
    """How sampler steps are previewed: `auto` and `latent2rgb` are the same cheap
    latent-to-RGB projection here (there is no TAESD)."""

    NONE = "none"
    AUTO = "auto"
    LATENT2RGB = "latent2rgb"


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    base_dir: Path
    models_dir: Optional[Path] = None
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 8188
    preview_method: Union[PreviewMethod, str] = PreviewMethod.NONE
    database: Optional[Path] = None  # default: BASE/user/studio.sqlite3
    frontend_dir: Path = REPO_DIR / "frontend"
    data_dir: Path = REPO_DIR / "data"  # shipped studio data: prompt library, tag lists
    max_upload_bytes: int = 50 * 1024 * 1024
    client_max_size: int = 32 * 1024 * 1024  # any other request body (JSON)
    preview_interval_s: float = 0.1  # at most ~10 preview frames a second per prompt
    history_limit: int = 10_000
    crash_retries: int = 1  # runs again of a prompt the process died on (0: never run it again)
    start_worker: bool = True  # tests queue prompts without running them
    extra_model_paths: tuple[Path, ...] = ()  # extra_model_paths.yaml files (ComfyUI's format)
    multi_user: bool = False  # users chosen by the Comfy-User header, listed in user/users.json
    max_prompt_nodes: int = 200_000  # nodes in one POST /prompt (413 beyond)
    max_json_depth: int = 100  # nesting of any JSON request body (400 beyond)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "base_dir", Path(self.base_dir))
        if self.models_dir is not None:
            set_(self, "models_dir", Path(self.models_dir))
        set_(self, "frontend_dir", Path(self.frontend_dir))
        set_(self, "data_dir", Path(self.data_dir))
        set_(self, "extra_model_paths", tuple(Path(p) for p in self.extra_model_paths))
        if isinstance(self.hosts, str):
            set_(self, "hosts", tuple(h.strip() for h in self.hosts.split(",") if h.strip()))
        if not self.hosts:
            raise ValueError("ServerConfig.hosts: at least one address to listen on")
        if not 0 <= int(self.port) <= 65535:
            raise ValueError(f"ServerConfig.port: {self.port} is not a TCP port")
        try:
            set_(self, "preview_method", PreviewMethod(self.preview_method))
        except ValueError:
            choices = ", ".join(m.value for m in PreviewMethod)
            raise ValueError(f"ServerConfig.preview_method: {self.preview_method!r} is not one of {choices}") from None
        for name in ("max_upload_bytes", "client_max_size", "history_limit", "max_prompt_nodes", "max_json_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ServerConfig.{name}: must be positive")
        if int(self.crash_retries) < 0:
            raise ValueError("ServerConfig.crash_retries: must not be negative")
        if self.preview_interval_s < 0:
            raise ValueError("ServerConfig.preview_interval_s: must not be negative")

    @property
    def loopback_only(self) -> bool:
        """Bound only to this machine: then foreign web pages must not drive the server."""
        return all(is_loopback(h) for h in self.hosts)

    @property
    def user_dir(self) -> Path:
        """The user's own data (presets, snippets, tag lists, locales); app updates leave it alone."""
        return self.base_dir / "user"

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else self.user_dir / "studio.sqlite3"

    def folders(self) -> Folders:
        from nodes.extra_model_paths import folders_with_extra_paths

        return folders_with_extra_paths(self.base_dir, self.models_dir, self.extra_model_paths)
