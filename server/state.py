"""Typed keys for what the application holds; route modules read state through these."""
from __future__ import annotations

from aiohttp import web

from executor.prompt_queue import PromptQueue
from executor.run import Executor
from nodes.folders import Folders
from nodes.registry import NodeRegistry

from .app_logs import LogBuffer
from .config import ServerConfig
from .clients import ClientRegistry
from .events import EventBridge
from .extensions import ServerExtensions
from .user_data import UserData
from .user_settings import UserSettings

CONFIG = web.AppKey("config", ServerConfig)
FOLDERS = web.AppKey("folders", Folders)
REGISTRY = web.AppKey("registry", NodeRegistry)
EXECUTOR = web.AppKey("executor", Executor)
QUEUE = web.AppKey("queue", PromptQueue)
CLIENTS = web.AppKey("clients", ClientRegistry)
EXTENSIONS = web.AppKey("extensions", ServerExtensions)
USER_DATA = web.AppKey("user_data", UserData)
USER_SETTINGS = web.AppKey("user_settings", UserSettings)
BRIDGE = web.AppKey("bridge", EventBridge)
LOGS = web.AppKey("logs", LogBuffer)
