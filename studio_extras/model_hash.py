"""SHA-256 of checkpoint files and diffusers folders, with a cache.

Presets are keyed by what a model *is*, not what its file is called, so renaming or
copying a checkpoint keeps its presets. Checkpoints are gigabytes: a hash is reused
while the file's (resolved path, size, mtime_ns) is unchanged.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Optional, Protocol

CHUNK = 4 * 1024 * 1024


class HashCache(Protocol):
    """Where hashes are remembered (the presets store keeps them in its JSON file)."""

    def cached_hash(self, key: str, size: int, mtime_ns: int) -> Optional[str]: ...

    def remember_hash(self, key: str, size: int, mtime_ns: int, sha256: str) -> None: ...


class NoCache:
    def cached_hash(self, key: str, size: int, mtime_ns: int) -> Optional[str]:
        return None

    def remember_hash(self, key: str, size: int, mtime_ns: int, sha256: str) -> None:
        pass


_busy_lock = threading.Lock()
_busy: dict[str, threading.Lock] = {}


def _lock_for(key: str) -> threading.Lock:
    """One lock per file, so two requests for one big file hash it once, not twice."""
    with _busy_lock:
        return _busy.setdefault(key, threading.Lock())


def file_sha256(path: Path, cache: HashCache) -> str:
    """The file's SHA-256 hex digest, from the cache when the file has not changed."""
    key = str(Path(path).resolve())
    with _lock_for(key):
        before = os.stat(key)
        hit = cache.cached_hash(key, before.st_size, before.st_mtime_ns)
        if hit:
            return hit
        digest = hashlib.sha256()
        with open(key, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        value = digest.hexdigest()
        after = os.stat(key)
        if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
            cache.remember_hash(key, after.st_size, after.st_mtime_ns, value)  # not while it was being written
        return value


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative posix path, file) of every file in a diffusers folder, sorted; hidden
    files and folders (.cache, .git) are download leftovers, not part of the model."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        here = Path(dirpath)
        for name in filenames:
            if not name.startswith(".") and (here / name).is_file():
                found.append(((here / name).relative_to(folder).as_posix(), here / name))
    return sorted(found)


def folder_sha256(folder: Path, cache: HashCache) -> str:
    """SHA-256 over the sorted lines `relative path NUL file sha256`, so a copied or
    renamed diffusers folder hashes the same."""
    digest = hashlib.sha256()
    for relative, path in folder_files(folder):
        digest.update(f"{relative}\0{file_sha256(path, cache)}\n".encode("utf-8"))
    return digest.hexdigest()


def model_sha256(path: Path, cache: HashCache) -> str:
    """The hash of a checkpoint file or of a diffusers folder."""
    return folder_sha256(path, cache) if Path(path).is_dir() else file_sha256(path, cache)
