"""Uses ComfyUI's own model code (not part of this app): imports work, running says why not."""
from comfy.ldm.modules.attention import optimized_attention


class StudioNeedsInternals:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self, value):
        optimized_attention(None, None, None, 1)
        return (value,)


NODE_CLASS_MAPPINGS = {"StudioNeedsInternals": StudioNeedsInternals}


class StudioBadInputTypes:
    @classmethod
    def INPUT_TYPES(cls):
        raise ValueError("this node's inputs cannot be listed")

    RETURN_TYPES = ()
    FUNCTION = "run"


NODE_CLASS_MAPPINGS["StudioBadInputTypes"] = StudioBadInputTypes
