from comfy_execution.graph import ExecutionBlocker

from .basic import count


class StudioRange:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT", "INT")
    RETURN_NAMES = ("items", "total")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "run"
    CATEGORY = "studio_test/lists"

    def run(self, count):
        return (list(range(count)), count)


class StudioAddTen:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/lists"

    def run(self, value):
        count("StudioAddTen")
        return (value + 10,)


class StudioSumList:
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT", {"forceInput": True}), "scale": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/lists"

    def run(self, values, scale):
        return (sum(values) * scale[0],)


class StudioLazySwitch:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"use_first": ("BOOLEAN", {"default": True}),
                             "first": ("INT", {"lazy": True, "forceInput": True}),
                             "second": ("INT", {"lazy": True, "forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/flow"

    def check_lazy_status(self, use_first, first=None, second=None):
        if use_first and first is None:
            return ["first"]
        if not use_first and second is None:
            return ["second"]
        return []

    def run(self, use_first, first=None, second=None):
        return (first if use_first else second,)


class StudioGate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True}), "open": ("BOOLEAN", {"default": True}),
                             "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/flow"

    def run(self, value, open, message):
        if open:
            return (value,)
        return (ExecutionBlocker(message or None),)


class StudioMakeThing:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "thing"})}}

    RETURN_TYPES = ("STUDIO_THING",)
    FUNCTION = "run"
    CATEGORY = "studio_test/types"

    def run(self, name):
        return ({"name": name},)


class StudioUseThing:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"thing": ("STUDIO_THING",)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test/types"

    def run(self, thing):
        return (thing["name"].upper(),)


FLOW_NODES = {"StudioRange": StudioRange, "StudioAddTen": StudioAddTen, "StudioSumList": StudioSumList,
              "StudioLazySwitch": StudioLazySwitch, "StudioGate": StudioGate, "StudioMakeThing": StudioMakeThing,
              "StudioUseThing": StudioUseThing}
FLOW_NAMES = {"StudioLazySwitch": "Studio Lazy Switch"}
