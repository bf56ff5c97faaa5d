"""Reading and writing the user's data files (JSON above all) without ever losing them.

Writes go to a temporary file that then replaces the old one, so a crash or a full
disk leaves either the old or the new file, never half of one. A file that cannot be
read is copied aside before anything may overwrite it, so hand edits gone wrong can
be recovered.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024 * 1024  # far beyond any real presets or snippets file


class UnreadableFile(ValueError):
    """A data file that exists but is not the JSON we expect (the message says why)."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json_file(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed file; UnreadableFile for unreadable, oversized or malformed files.
    FileNotFoundError passes through: a missing file is not a problem, only absent data."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFile(f"{path.name} is {size} bytes; at most {max_bytes} are read")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(f"{path.name} cannot be read: {exc.strerror or type(exc).__name__}") from None
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path.name} is not UTF-8 text") from None
    except ValueError as exc:
        raise UnreadableFile(f"{path.name} is not valid JSON: {exc}") from None


NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)


def link_exclusive(source: Path, target: Path) -> bool:
    """Hard-link source to target, failing (FileExistsError) if target exists; False where
    the file system has no hard links (vfat, some network mounts)."""
    try:
        os.link(source, target)
        return True
    except OSError as exc:
        if exc.errno in NO_LINKS:
            return False
        raise


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool = True) -> None:
    """`path` gets `data` in one step (temp file in the same folder, then a rename); with
    overwrite=False an existing file is left alone (FileExistsError), even in a race."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name[:50]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, path)
        elif not link_exclusive(Path(temp), path):
            with open(path, "xb") as out:  # no hard links here: exclusive create, then write
                out.write(data)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def keep_backup(path: Path) -> Optional[Path]:
    """Copy an unreadable data file to `NAME.bak` (or `NAME.bak.N` when that holds another
    copy) before it can be overwritten; the copy's path, or None when even copying failed."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        log.warning("could not back up %s: %s", path, exc)
        return None
    for n in range(1000):
        backup = path.with_name(path.name + (".bak" if n == 0 else f".bak.{n}"))
        try:
            if backup.exists():
                if backup.read_bytes() == content:
                    return backup
                continue
            shutil.copy2(path, backup)
            return backup
        except OSError as exc:
            log.warning("could not back up %s to %s: %s", path, backup, exc)
            return None
    return None


def file_stamp(path: Path) -> Optional[tuple[int, int]]:
    """(mtime_ns, size), to notice a file changed on disk; None when it is absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


NEVER_SEEN = (-1, -1)  # a stamp no file has: the next load reads the disk again


class StoreLocked(OSError):
    """The file is unreadable and could not be copied aside, so it is not overwritten."""


class JsonDocument:
    """A user data file held in memory and re-read when it changes on disk (hand edits,
    a second server). Callers hold `lock` around load() ... save().

    `check` turns parsed JSON into the document or raises UnreadableFile; then the file
    is copied aside (keep_backup), the problem is logged and listed in `problems`, and
    the document starts from `empty()`.
    """

    def __init__(self, path: Path, empty: Callable[[], dict], check: Callable[[Any], dict]) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.problems: list[str] = []
        self._empty, self._check = empty, check
        self._data = empty()
        self._stamp: Optional[tuple[int, int]] = None
        self._keep_file = False

    def load(self) -> dict:
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return self._data
        self._stamp, self._keep_file = stamp, False
        if stamp is None:
            self._data = self._empty()
            return self._data
        try:
            self._data = self._check(read_json_file(self.path))
        except FileNotFoundError:
            self._data, self._stamp = self._empty(), None
        except UnreadableFile as exc:
            backup = keep_backup(self.path)
            kept = f"a copy is kept as {backup.name}" if backup else "it could not be copied and is left as it is"
            message = f"{self.path.name} could not be read ({exc}); starting empty, {kept}"
            log.warning("%s", message)
            self.problems.append(message)
            self._data = self._empty()
            self._keep_file = backup is None
        return self._data

    def load_for_change(self) -> dict:
        """load(), or StoreLocked before anything changes when the file must not be overwritten."""
        data = self.load()
        if self._keep_file:
            raise StoreLocked(f"{self.path.name} could not be read or copied; fix or move it to save changes")
        return data

    def save(self) -> None:
        if self._keep_file:
            raise StoreLocked(f"{self.path.name} could not be read or copied; fix or move it to save changes")
        try:
            write_json_atomic(self.path, self._data)
        except BaseException:
            self._stamp = NEVER_SEEN  # the next load reads the file again: no unsaved change is served
            raise
        self._stamp = file_stamp(self.path)
