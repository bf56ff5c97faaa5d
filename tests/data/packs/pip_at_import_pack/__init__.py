"""Tries to install a package when imported, as some packs do."""
import subprocess
import sys

try:
    import studio_module_that_is_not_installed  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "studio-module-that-is-not-installed"])

NODE_CLASS_MAPPINGS = {}
