"""A user's settings, one JSON object in BASE/user/<user>/comfy.settings.json (ComfyUI's
file, so an existing install's settings carry over). Both editors keep theirs here, so
two browsers, or a script, see the same settings.

A file that cannot be read is copied aside (`.bak`) before the first change replaces it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from .json_files import UnreadableFile, keep_backup, read_json_file, write_json_atomic
from .user_data import UserData, UserDataError

log = logging.getLogger(__name__)

SETTINGS_FILE = "comfy.settings.json"
MAX_SETTING_ID = 256


class UserSettings:
    def __init__(self, users: UserData) -> None:
        self.users = users
        self._lock = threading.Lock()

    def _read(self, user: str) -> dict:
        path = self.users.path(user, SETTINGS_FILE)
        try:
            data = read_json_file(path)
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise UserDataError(409, f"{SETTINGS_FILE} is a folder; move it away to keep settings") from None
        except UnreadableFile as exc:
            return self._set_aside(path, str(exc))
        if not isinstance(data, dict):
            return self._set_aside(path, f"{SETTINGS_FILE} does not hold a JSON object")
        return data

    @staticmethod
    def _set_aside(path, problem: str) -> dict:
        """Copy an unreadable settings file aside; if even that fails it must not be replaced."""
        backup = keep_backup(path)
        if backup is None:
            raise UserDataError(409, f"{problem}, and it could not be copied aside; fix or move it")
        log.warning("%s; starting from no settings, a copy is kept as %s", problem, backup.name)
        return {}

    def all(self, user: str) -> dict:
        with self._lock:
            return self._read(user)

    def get(self, user: str, setting_id: str) -> Any:
        return self.all(user).get(setting_id)

    def update(self, user: str, changes: dict) -> dict:
        """Merge `changes` into the stored settings (ComfyUI's POST /settings)."""
        with self._lock:
            settings = {**self._read(user), **changes}
            write_json_atomic(self.users.path(user, SETTINGS_FILE), settings)
            return settings

    def set(self, user: str, setting_id: str, value: Any) -> None:
        self.update(user, {setting_id: value})
