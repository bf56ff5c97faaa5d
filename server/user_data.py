"""Each user's own files under BASE/user/<user>/ (saved workflows, settings, subgraphs),
as ComfyUI's /userdata routes see them.

Names are confined to the user's folder: `..`, absolute paths, NUL bytes, names the file
system cannot hold (too long, not UTF-8) and symlinks that lead out are refused before
anything is read or written. Writes go to a temporary
file first, so a crash leaves the old file or the new one, never half of one; a write
that must not overwrite is linked into place, so two racing writers cannot both win.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Optional, Union
from urllib.parse import unquote

from nodes.folders import UnsafePathError, is_inside, lexical_join

from .json_files import JsonDocument, StoreLocked, UnreadableFile, link_exclusive, write_bytes_atomic
from .security import name_problem, short_name

DEFAULT_USER = "default"
SYSTEM_PREFIX = "__"  # ComfyUI keeps such user ids for itself
USERS_FILE = "users.json"
MAX_NAME = 1024
MAX_USER_NAME = 100


class UnknownUser(KeyError):
    """The request names no user this server knows."""


class UserDataError(ValueError):
    """A refused name or operation; `status` is the HTTP status that fits it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def file_info(path: Path, root: Path) -> dict:
    st = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": st.st_size,
            "modified": st.st_mtime, "created": st.st_ctime}


class UserData:
    """The users of this server and their folders. Single-user (ComfyUI's default)
    means one user, `default`; multi-user reads the users from BASE/user/users.json."""

    def __init__(self, user_dir: Path, multi_user: bool = False) -> None:
        self.root = Path(user_dir)
        self.multi_user = multi_user
        self._users = JsonDocument(self.root / USERS_FILE, dict, _users_table)

    # -- users --------------------------------------------------------------------------

    def users(self) -> dict[str, str]:
        if not self.multi_user:
            return {DEFAULT_USER: DEFAULT_USER}
        with self._users.lock:
            return dict(self._users.load())

    def user_for(self, header: Optional[str]) -> str:
        """The request's user: the `Comfy-User` header in multi-user mode (`default` when
        there is none), else `default`."""
        user = header if (self.multi_user and header is not None) else DEFAULT_USER
        if user.startswith(SYSTEM_PREFIX) or user not in self.users():
            raise UnknownUser(user)
        return user

    def add_user(self, name: str) -> str:
        """A new user id for a display name (ComfyUI's form: the name, `_`, a uuid)."""
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            raise UserDataError(400, "username not provided")
        if len(name) > MAX_USER_NAME or not name.isprintable():
            raise UserDataError(400, f"a user name is at most {MAX_USER_NAME} printable characters")
        if name.startswith(SYSTEM_PREFIX):
            raise UserDataError(400, f"user names must not start with '{SYSTEM_PREFIX}'")
        if not self.multi_user:
            raise UserDataError(400, "this server has a single user; start it with --multi-user to add users")
        with self._users.lock:
            try:
                users = self._users.load_for_change()
            except StoreLocked as exc:
                raise UserDataError(409, str(exc)) from None
            if name in users.values():
                raise UserDataError(400, "Duplicate username.")
            user_id = re.sub(r"[^a-zA-Z0-9-_]+", "-", name).lstrip("_") + "_" + str(uuid.uuid4())
            users[user_id] = name
            self._users.save()
        return user_id

    def folder(self, user: str) -> Path:
        return self.root / user

    # -- names --------------------------------------------------------------------------

    def path(self, user: str, name: str) -> Path:
        """BASE/user/<user>/<name>; UserDataError 400 for a name the file system cannot
        hold, 403 for one that leaves the folder."""
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise UserDataError(400, f"file names are at most {MAX_NAME} characters")
        if name.strip("/") == "":
            raise UserDataError(400, "a file name is needed")
        if "%" in name:
            name = _unquoted(name)  # the frontend may encode a path twice, as ComfyUI allows
        problem = name_problem(name)
        if problem is not None:
            raise UserDataError(400, f"the name '{short_name(name)}' {problem}")
        folder = self.folder(user)
        try:
            target = lexical_join(folder, name)  # refuses `..` and absolute paths
        except UnsafePathError as exc:
            raise UserDataError(403, str(exc)) from None
        folder.mkdir(parents=True, exist_ok=True)
        if not is_inside(folder.resolve(), target):
            raise UserDataError(403, f"'{short_name(name)}' leads out of the user's folder")
        return target

    # -- reading ------------------------------------------------------------------------

    def list_dir(self, user: str, directory: str, recurse: bool, full_info: bool, split: bool) -> list:
        """GET /userdata?dir=: files (not folders) below `directory`, as ComfyUI lists them."""
        folder = self.path(user, directory)
        if not folder.is_dir():
            raise UserDataError(404, f"no folder '{short_name(directory)}'")
        found = folder.rglob("*") if recurse else folder.glob("*")
        root = self.folder(user).resolve()
        out: list[Union[str, list, dict]] = []
        for path in sorted(found):
            relative = path.relative_to(folder).as_posix()
            if not path.is_file() or not _visible(root, path) or any(p.startswith(".") for p in relative.split("/")):
                continue  # hidden files (.DS_Store, .gitkeep) are not listed, as in ComfyUI
            if full_info:
                out.append(file_info(path, folder))
            elif split:
                out.append([relative, *relative.split("/")])
            else:
                out.append(relative)
        return out

    def list_tree(self, user: str, relative: str) -> list[dict]:
        """GET /v2/userdata?path=: folders first, then files, each with its path from the user's root."""
        root = self.folder(user)
        folder = self.path(user, relative) if relative.strip("/") else root
        if not folder.exists():
            if folder == root:
                return []
            raise UserDataError(404, f"no folder '{short_name(relative)}'")
        if not folder.is_dir():
            raise UserDataError(400, f"'{short_name(relative)}' is not a folder")
        out = []
        resolved_root = root.resolve()
        for path in folder.rglob("*"):
            if not _visible(resolved_root, path):
                continue
            entry: dict = {"name": path.name, "path": path.relative_to(root).as_posix()}
            if path.is_dir():
                entry["type"] = "directory"
            else:
                entry["type"] = "file"
                st = path.stat()
                entry["size"], entry["modified"] = st.st_size, st.st_mtime
            out.append(entry)
        out.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
        return out

    def existing_file(self, user: str, name: str) -> Path:
        path = self.path(user, name)
        if not path.is_file():
            if path.is_dir():
                raise UserDataError(404, f"'{short_name(name)}' is a folder, not a file")
            raise UserDataError(404, f"no file '{short_name(name)}'")
        return path

    # -- writing ------------------------------------------------------------------------

    def write(self, user: str, name: str, data: bytes, overwrite: bool) -> Path:
        path = self.path(user, name)
        if path.is_dir():
            raise UserDataError(409, f"a folder is named '{short_name(name)}'")
        _make_parent(path, name)
        try:
            write_bytes_atomic(path, data, overwrite=overwrite)
        except FileExistsError:
            raise UserDataError(409, "File already exists") from None
        except NotADirectoryError:
            raise UserDataError(409, f"a file is in the way of '{short_name(name)}'") from None
        except IsADirectoryError:
            raise UserDataError(409, f"a folder is named '{short_name(name)}'") from None
        except OSError as exc:
            raise UserDataError(400, f"'{short_name(name)}' cannot be written: {_reason(exc)}") from None
        return path

    def delete(self, user: str, name: str) -> None:
        self.existing_file(user, name).unlink()

    def move(self, user: str, source: str, dest: str, overwrite: bool) -> Path:
        source_path = self.existing_file(user, source)
        dest_path = self.path(user, dest)
        if dest_path.is_dir():
            raise UserDataError(409, f"a folder is named '{short_name(dest)}'")
        _make_parent(dest_path, dest)
        try:
            if overwrite:
                os.replace(source_path, dest_path)
            else:
                _move_exclusive(source_path, dest_path)
        except FileExistsError:
            raise UserDataError(409, "File already exists") from None
        except (NotADirectoryError, IsADirectoryError):
            raise UserDataError(409, f"a file is in the way of '{short_name(dest)}'") from None
        except OSError as exc:
            raise UserDataError(400, f"'{short_name(source)}' cannot be moved: {_reason(exc)}") from None
        return dest_path


def _make_parent(path: Path, name: str) -> None:
    """The folders above `path`; a file where one should be is a 409."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserDataError(409, f"a file is in the way of '{short_name(name)}'") from None


def _unquoted(name: str) -> str:
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise UserDataError(400, f"the name '{short_name(name)}' is not UTF-8 once its %-escapes are decoded") from None


def _reason(exc: OSError) -> str:
    """An OSError in words; its str() would carry the absolute path."""
    return exc.strerror or type(exc).__name__


def _visible(root: Path, path: Path) -> bool:
    """Listed: inside the user's (resolved) folder, a symlink out is not, and not a write
    in progress."""
    if path.name.startswith(".") and path.name.endswith(".tmp"):
        return False
    return is_inside(root, path)


def _users_table(data: object) -> dict:
    if not isinstance(data, dict):
        raise UnreadableFile(f"{USERS_FILE} does not hold a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def _move_exclusive(source: Path, target: Path) -> None:
    """Rename without replacing: linked into place, or checked then renamed where the file
    system has no hard links."""
    if link_exclusive(source, target):
        source.unlink()
        return
    if target.exists():
        raise FileExistsError(str(target))
    os.rename(source, target)
