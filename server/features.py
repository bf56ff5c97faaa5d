"""What this server tells ComfyUI's frontend it can do (GET /features, and the reply to
the frontend's `feature_flags` WebSocket message)."""
from __future__ import annotations

from .config import ServerConfig


def server_features(config: ServerConfig) -> dict:
    # Previews go out as plain image frames (no metadata frames), as older servers send them.
    return {"supports_preview_metadata": False, "max_upload_size": config.max_upload_bytes}
