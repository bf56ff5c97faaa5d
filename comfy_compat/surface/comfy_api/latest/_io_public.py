"""`comfy_api.latest.io` (ComfyUI keeps the public names in this module)."""
from ._io import *  # noqa: F401,F403
from ._io import __getattr__  # noqa: F401
