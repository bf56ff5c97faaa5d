"""SaveImageWebsocket: images sent to the client over the WebSocket as PNG frames instead of
being written to disk (what API clients use to get results without touching files)."""
from __future__ import annotations

import uuid
from typing import Any

import torch

from .png_files import image_to_pil
from .registry import Node, register_node
from .spec import NodeOutput, Socket


@register_node("SaveImageWebsocket", category="api node/image", output_node=True)
class SaveImageWebsocket(Node):
    """Sends each image as a binary frame (event 1, format 2 = PNG, then the PNG) to the
    client that queued the prompt, while this node is the one executing; nothing is saved."""

    images = Socket("IMAGE")
    OUTPUTS = ()

    def execute(self, ctx, images: torch.Tensor) -> NodeOutput:
        total = int(images.shape[0])
        for index, image in enumerate(images):
            ctx.send_image(image_to_pil(image))
            ctx.report_progress(index + 1, total)
        return NodeOutput((), {})

    @classmethod
    def fingerprint(cls, folders: Any, **_: Any) -> Any:
        """Never from the cache: the frames are not kept anywhere, so every run sends them."""
        return uuid.uuid4().hex
