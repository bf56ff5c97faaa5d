"""`comfy_api.latest.ui` (ComfyUI keeps the public names in this module)."""
from ._ui import *  # noqa: F401,F403
from ._ui import ImageSaveHelper, PreviewImage, PreviewMask, PreviewText, PreviewVideo, SavedImages, SavedResult  # noqa: F401,E501
from ._ui import __getattr__  # noqa: F401
