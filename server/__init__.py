"""The aiohttp server: ComfyUI's HTTP and WebSocket API over the executor's prompt queue.

Choices where ComfyUI's behaviour is loose or unsafe:
- Events of a prompt queued without `client_id` go to every client (as in ComfyUI);
  with one, only to that client. `execution_success`/`_error`/`_interrupted` and the
  final `executing` (node null) are sent after the history entry is written, so a
  client that reads /history on them always finds it.
- Interrupted prompts are recorded with status_str "error" (as in ComfyUI); a prompt
  interrupted by the server shutting down stays queued and runs at the next start.
- POST /prompt accepts a client-chosen `prompt_id` (refused with 400 when taken).
- While bound to loopback: POSTs and WebSocket handshakes from foreign Origins, and
  any request whose Host is not a loopback name (DNS rebinding), get 403.
- /view serves only media, JSON and text under their own types (with nosniff);
  anything else is sent as an octet-stream attachment, never as a page.
- Uploading bytes identical to an existing file of the same name reuses that file.
"""


def __getattr__(name: str):
    """ComfyUI's `server` module names custom node packs import (PromptServer,
    BinaryEventTypes); provided by the compatibility layer."""
    if name in ("PromptServer", "BinaryEventTypes"):
        from comfy_compat import server_surface

        return getattr(server_surface, name)
    raise AttributeError(f"module 'server' has no attribute {name!r}")
