"""Typed keys for what the application holds; route modules read state through these."""
from __future__ import annotations

from aiohttp import web

from executor.prompt_queue import PromptQueue
from executor.run import Executor
from nodes.folders import Folders
from nodes.registry import NodeRegistry

from .config import ServerConfig
from .clients import ClientRegistry
from .extensions import ServerExtensions

CONFIG = web.AppKey("config", ServerConfig)
FOLDERS = web.AppKey("folders", Folders)
REGISTRY = web.AppKey("registry", NodeRegistry)
EXECUTOR = web.AppKey("executor", Executor)
QUEUE = web.AppKey("queue", PromptQueue)
CLIENTS = web.AppKey("clients", ClientRegistry)
EXTENSIONS = web.AppKey("extensions", ServerExtensions)
