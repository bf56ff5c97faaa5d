"""The error a constant input value raises when it does not fit its descriptor."""
from __future__ import annotations


class InputValueError(ValueError):
    """A constant input value that does not fit its descriptor.

    `error_type` is one of ComfyUI's validation error types so clients can react to it.
    """

    def __init__(self, error_type: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.details = details
