class StudioDuplicate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self):
        return ("from pack a",)


class StudioOnlyInA:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self):
        return ("a",)


class StudioTakesKSampler:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    CATEGORY = "studio_test"


NODE_CLASS_MAPPINGS = {
    "StudioDuplicate": StudioDuplicate,
    "StudioOnlyInA": StudioOnlyInA,
    "KSampler": StudioTakesKSampler,  # a core node's id: refused
}
