"""The narrow context node code gets: progress, cancellation, folders and prompt metadata.

Node code never reaches for globals; whatever it needs from the running app comes here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from diffusion.interrupts import Interrupted

from .folders import Folders


class ExecutionInterrupted(Interrupted):
    """Raised inside node code when the user asked to stop the running prompt (diffusion
    code raises its base class, `Interrupted`, from inside long work)."""


ProgressSink = Callable[[int, int, Optional[Any]], None]


@dataclass
class NodeContext:
    folders: Folders
    node_id: str = ""
    prompt: Optional[dict] = None  # the API-format workflow being run (saved into PNGs)
    extra_pnginfo: Optional[dict] = None  # e.g. {"workflow": UI-format JSON}
    on_progress: Optional[ProgressSink] = None
    is_interrupted: Callable[[], bool] = field(default=lambda: False)
    want_previews: bool = False
    extra_data: dict = field(default_factory=dict)  # the prompt's extra_data (client id, tokens, ...)
    request_interrupt: Callable[[], None] = field(default=lambda: None)  # node code stopping the prompt
    on_image: Optional[Callable[[Any], None]] = None  # a full image for the prompt's client (binary frame)
    output_files: Any = None  # the files this prompt wrote in an earlier, interrupted run

    def check_interrupted(self) -> None:
        if self.is_interrupted():
            raise ExecutionInterrupted("interrupted")

    def report_progress(self, value: int, total: int, preview: Optional[Any] = None) -> None:
        """Step `value` of `total` done; `preview` is an optional PIL image of the latent."""
        if self.on_progress is not None:
            self.on_progress(value, total, preview)

    def send_image(self, image: Any) -> None:
        """Send a PIL image, losslessly, to the client that queued the prompt (nothing is
        saved; without a client it goes nowhere)."""
        if self.on_image is not None:
            self.on_image(image)
