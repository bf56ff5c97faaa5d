import math

import comfy.model_management
import comfy.samplers
import comfy.utils
import folder_paths
import nodes
from nodes import MAX_RESOLUTION
from server import PromptServer, BinaryEventTypes

CALLS = {}


def count(name):
    CALLS[name] = CALLS.get(name, 0) + 1


class AnyType(str):
    """The usual trick: a type that equals every other type."""

    def __ne__(self, other):
        return False


any_type = AnyType("*")


class StudioIntMath:
    DESCRIPTION = "Adds or multiplies two integers."
    SEARCH_ALIASES = ["arithmetic", "calculator"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 1, "min": 0, "max": MAX_RESOLUTION}),
                             "b": ("INT", {"default": 2, "min": -5, "max": 100}),
                             "op": (["add", "multiply"],)}}

    RETURN_TYPES = ("INT", "STRING")
    RETURN_NAMES = ("value", "text")
    OUTPUT_TOOLTIPS = ("the result", "the result as text")
    FUNCTION = "calc"
    CATEGORY = "studio_test/math"

    def calc(self, a, b, op):
        count("StudioIntMath")
        value = a + b if op == "add" else a * b
        return (value, str(value))


class StudioShowText:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"forceInput": True})},
                "optional": {"anything": (any_type, {})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "studio_test"

    def show(self, text, anything=None):
        count("StudioShowText")
        PromptServer.instance.send_sync("studio_v1.event", {"text": text, "node": PromptServer.instance.last_node_id},
                                        PromptServer.instance.client_id)
        return {"ui": {"text": [text]}, "result": (text,)}


class StudioHidden:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"label": ("STRING", {"default": "x"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID",
                           "dynprompt": "DYNPROMPT"}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "studio_test"

    def run(self, label, prompt=None, extra_pnginfo=None, unique_id=None, dynprompt=None):
        node = dynprompt.get_node(unique_id)
        return {"ui": {"facts": [{"unique_id": unique_id, "prompt_nodes": sorted(prompt),
                                  "workflow": (extra_pnginfo or {}).get("workflow"),
                                  "class_type": node["class_type"]}]}}


class StudioValidated:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"even": ("INT", {"default": 2, "min": 0, "max": 10}),
                             "anything": (any_type,)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    @classmethod
    def VALIDATE_INPUTS(cls, even, input_types):
        if even % 2:
            return f"{even} is odd"
        if input_types.get("anything") not in (None, "INT", "STRING"):
            return f"cannot take {input_types['anything']}"
        return True

    def run(self, even, anything):
        return (even,)


class StudioAlwaysChanged:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    @classmethod
    def IS_CHANGED(cls, value):
        return float("nan")

    def run(self, value):
        count("StudioAlwaysChanged")
        return (value,)


class StudioFileStamp:
    """Re-runs only when the file named in the input folder changes."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "stamp.txt"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "read"
    CATEGORY = "studio_test"

    @classmethod
    def IS_CHANGED(cls, name):
        path = folder_paths.get_annotated_filepath(name)
        with open(path, "rb") as handle:
            return handle.read()

    def read(self, name):
        count("StudioFileStamp")
        with open(folder_paths.get_annotated_filepath(name), encoding="utf-8") as handle:
            return (handle.read(),)


class StudioCheckpointName:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "sampler": (comfy.samplers.KSampler.SAMPLERS,),
                             "scheduler": (comfy.samplers.KSampler.SCHEDULERS,)}}

    RETURN_TYPES = ("STRING", comfy.samplers.KSampler.SAMPLERS)
    RETURN_NAMES = ("path", "sampler_name")
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self, ckpt_name, sampler, scheduler):
        return (folder_paths.get_full_path("checkpoints", ckpt_name), sampler)


class StudioSlowProgress:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 5, "min": 1, "max": 1000}),
                             "delay": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self, steps, delay):
        import time

        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(delay)
            bar.update(1)
        return (steps,)


class StudioFails:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"message": ("STRING", {"default": "boom"})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self, message):
        raise RuntimeError(message)


class StudioOldNode:
    DEPRECATED = True
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self):
        return (math.pi,)


BASIC_NODES = {
    "StudioIntMath": StudioIntMath, "StudioShowText": StudioShowText, "StudioHidden": StudioHidden,
    "StudioValidated": StudioValidated, "StudioAlwaysChanged": StudioAlwaysChanged,
    "StudioFileStamp": StudioFileStamp, "StudioCheckpointName": StudioCheckpointName,
    "StudioSlowProgress": StudioSlowProgress, "StudioFails": StudioFails, "StudioOldNode": StudioOldNode,
}
BASIC_NAMES = {"StudioIntMath": "Studio Int Math", "StudioShowText": "Studio Show Text"}
assert BinaryEventTypes.PREVIEW_IMAGE == 1 and nodes.NODE_CLASS_MAPPINGS["KSampler"].FUNCTION == "sample"
