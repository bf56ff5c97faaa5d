"""A one-file pack."""


class StudioOneFile:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "hi"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "studio_test"

    def run(self, text):
        return (text + "!",)


NODE_CLASS_MAPPINGS = {"StudioOneFile": StudioOneFile}
NODE_DISPLAY_NAME_MAPPINGS = {"StudioOneFile": "Studio One File"}
