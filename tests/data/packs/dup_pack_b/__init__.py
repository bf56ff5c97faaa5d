class StudioDuplicate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self):
        return ("from pack b",)


class StudioOnlyInB:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self):
        return ("b",)


class StudioTakesKSampler:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    CATEGORY = "studio_test"


NODE_CLASS_MAPPINGS = {"StudioDuplicate": StudioDuplicate, "StudioOnlyInB": StudioOnlyInB}
if "b" == "a":
    NODE_CLASS_MAPPINGS["KSampler"] = StudioTakesKSampler
