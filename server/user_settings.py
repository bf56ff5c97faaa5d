"""A user's settings, one JSON object in BASE/user/<user>/comfy.settings.json (ComfyUI's
file, so an existing install's settings carry over). Both editors keep theirs here, so
two browsers, or a script, see the same settings.

A file that cannot be read is copied aside (`.bak`) before the first change replaces it;
the file is read again only when it changed on disk.
"""
from __future__ import annotations

import threading
from typing import Any

from .json_files import JsonDocument, StoreLocked, UnreadableFile
from .user_data import UserData, UserDataError

SETTINGS_FILE = "comfy.settings.json"
MAX_SETTING_ID = 256


class UserSettings:
    def __init__(self, users: UserData) -> None:
        self.users = users
        self._lock = threading.Lock()
        self._documents: dict[str, JsonDocument] = {}

    def _document(self, user: str) -> JsonDocument:
        with self._lock:
            document = self._documents.get(user)
            if document is None:
                path = self.users.path(user, SETTINGS_FILE)
                document = self._documents[user] = JsonDocument(path, dict, _settings_object)
            return document

    def all(self, user: str) -> dict:
        document = self._document(user)
        with document.lock:
            return dict(_unlocked(document))

    def get(self, user: str, setting_id: str) -> Any:
        return self.all(user).get(setting_id)

    def update(self, user: str, changes: dict) -> dict:
        """Merge `changes` into the stored settings (ComfyUI's POST /settings)."""
        document = self._document(user)
        with document.lock:
            settings = _unlocked(document)
            settings.update(changes)
            document.save()
            return dict(settings)

    def set(self, user: str, setting_id: str, value: Any) -> None:
        self.update(user, {setting_id: value})


def _settings_object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise UnreadableFile(f"{SETTINGS_FILE} does not hold a JSON object")
    return data


def _unlocked(document: JsonDocument) -> dict:
    """The settings, or 409 when the file could neither be read nor copied aside (a folder
    in its place, a file without read permission): then it must not be replaced."""
    try:
        return document.load_for_change()
    except StoreLocked as exc:
        raise UserDataError(409, str(exc)) from None
