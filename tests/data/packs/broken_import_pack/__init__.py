import studio_module_that_is_not_installed  # noqa: F401

NODE_CLASS_MAPPINGS = {}
