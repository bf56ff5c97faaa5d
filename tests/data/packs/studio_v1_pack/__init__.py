"""A test pack written as ComfyUI packs are: V1 classes in NODE_CLASS_MAPPINGS, ComfyUI's
module names imported at the top, a route on PromptServer, a web folder."""
import folder_paths
from server import PromptServer
from aiohttp import web

from .studio_v1.basic import BASIC_NODES, BASIC_NAMES
from .studio_v1.flow import FLOW_NODES, FLOW_NAMES
from .studio_v1.models import MODEL_NODES, MODEL_NAMES

NODE_CLASS_MAPPINGS = {**BASIC_NODES, **FLOW_NODES, **MODEL_NODES}
NODE_DISPLAY_NAME_MAPPINGS = {**BASIC_NAMES, **FLOW_NAMES, **MODEL_NAMES}
WEB_DIRECTORY = "./web"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]

PROMPTS_SEEN = []


@PromptServer.instance.routes.get("/studio_v1/ping")
async def ping(request):
    return web.json_response({"pong": True, "output": folder_paths.get_output_directory()})


def remember_prompt(json_data):
    PROMPTS_SEEN.append(sorted(json_data.get("prompt", {})))
    return json_data


PromptServer.instance.add_on_prompt_handler(remember_prompt)
