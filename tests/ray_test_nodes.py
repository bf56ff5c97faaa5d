"""The node registry the Ray worker tests give the server and each worker: the core nodes
and SlowPass, which holds a prompt long enough to kill its worker mid-run."""
from __future__ import annotations

import time

from nodes.registry import Node, register_node
from nodes.spec import Float, Output, Socket

from .pack_support import core_registry

NODES = core_registry()


@register_node("SlowPass", category="test", registry=NODES)
class SlowPass(Node):
    """Passes its image on after `seconds`, honouring interrupts."""

    image = Socket("IMAGE")
    seconds = Float(default=1.0, min=0.0, max=600.0)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image, seconds: float) -> tuple:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ctx.check_interrupted()
            time.sleep(0.02)
        return (image,)
