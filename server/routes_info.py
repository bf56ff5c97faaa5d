"""Read-only routes about the app: node schemas, models, embeddings, system stats."""
from __future__ import annotations

import asyncio
import os
import platform
import sys
from pathlib import Path

from aiohttp import web

from nodes.folders import MODEL_KINDS
from nodes.registry import object_info

from .errors import ApiError
from .state import FOLDERS, QUEUE, REGISTRY

STUDIO_VERSION = "0.1.0"
COMFYUI_API_VERSION = "0.8.0"  # the ComfyUI release whose HTTP/WebSocket API this server speaks


async def get_object_info(request: web.Request) -> web.Response:
    """Every node's schema; model lists are read from the folders at each call."""
    info = await asyncio.to_thread(object_info, request.app[REGISTRY], request.app[FOLDERS])
    return web.json_response(info)


async def get_object_info_class(request: web.Request) -> web.Response:
    name = request.match_info["node_class"]
    registry = request.app[REGISTRY]
    if name not in registry:
        return web.json_response({})
    info = await asyncio.to_thread(object_info, registry, request.app[FOLDERS], [name])
    return web.json_response(info)


async def get_models(request: web.Request) -> web.Response:
    return web.json_response(list(MODEL_KINDS))


async def get_model_files(request: web.Request) -> web.Response:
    kind = request.match_info["folder"]
    if kind not in MODEL_KINDS:
        raise ApiError(404, "not_found", f"no model folder '{kind}'")
    names = await asyncio.to_thread(request.app[FOLDERS].list_models, kind)
    return web.json_response(names)


async def get_embeddings(request: web.Request) -> web.Response:
    names = await asyncio.to_thread(request.app[FOLDERS].list_models, "embeddings")
    return web.json_response([os.path.splitext(name)[0] for name in names])


async def get_system_stats(request: web.Request) -> web.Response:
    stats = await asyncio.to_thread(system_stats)
    stats["workers"] = request.app[QUEUE].workers()
    return web.json_response(stats)


def _memory() -> tuple[int, int]:
    """(total, available) RAM in bytes, from /proc/meminfo where there is one."""
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0]) * 1024
        return fields["MemTotal"], fields.get("MemAvailable", fields.get("MemFree", 0))
    except (OSError, KeyError, ValueError, IndexError):
        try:
            page = os.sysconf("SC_PAGE_SIZE")
            return os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
        except (ValueError, OSError, AttributeError):
            return 0, 0


def _devices(ram_total: int, ram_free: int) -> tuple[str, list[dict]]:
    import torch  # loaded anyway by the nodes; here only for its version and devices

    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            reserved = torch.cuda.memory_reserved(index)
            allocated = torch.cuda.memory_allocated(index)
            devices.append({
                "name": f"cuda:{index} {torch.cuda.get_device_name(index)}",
                "type": "cuda",
                "index": index,
                "vram_total": total,
                "vram_free": free,
                "torch_vram_total": reserved,
                "torch_vram_free": reserved - allocated,
            })
    else:
        devices.append({
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": ram_total,
            "vram_free": ram_free,
            "torch_vram_total": ram_total,
            "torch_vram_free": ram_free,
        })
    return torch.__version__, devices


def system_stats() -> dict:
    ram_total, ram_free = _memory()
    torch_version, devices = _devices(ram_total, ram_free)
    return {
        "system": {
            "os": os.name,
            "platform": platform.platform(),
            "ram_total": ram_total,
            "ram_free": ram_free,
            "studio_version": STUDIO_VERSION,
            "comfyui_version": COMFYUI_API_VERSION,
            "python_version": sys.version,
            "pytorch_version": torch_version,
            "embedded_python": False,
            "argv": sys.argv,
        },
        "devices": devices,
        "memory": memory_report(),
    }


def memory_report() -> dict:
    """The model manager's policy and what it holds (diffusion/memory_manager.py)."""
    from diffusion.memory_manager import MANAGER

    settings = MANAGER.settings
    return {"device": str(MANAGER.device), "policy": settings.policy.value, "reserve_bytes": settings.reserve_bytes,
            "smart_memory": settings.smart_memory, "models": MANAGER.loaded()}


ROUTES = [
    ("GET", "/object_info", get_object_info),
    ("GET", "/object_info/{node_class}", get_object_info_class),
    ("GET", "/models", get_models),
    ("GET", "/models/{folder}", get_model_files),
    ("GET", "/embeddings", get_embeddings),
    ("GET", "/system_stats", get_system_stats),
]
