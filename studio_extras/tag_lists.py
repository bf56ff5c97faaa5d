"""Tag lists for prompt autocomplete: the shipped CSVs (data/tags/) merged with the
user's own (BASE/user/tags/), so people can drop in the lists they already use.

Each CSV is one of two kinds, told apart by its first row:
- a TAG LIST: `name,category,count,aliases` (header optional). The headerless form is
  a1111 tag-autocomplete's `name,type,count,"alias1,alias2"`, where type is a Danbooru
  number (0 general, 1 artist, 3 copyright, 4 character, 5 meta).
- a TRANSLATION list: `tag,translation` (header optional); `a|b` gives alternatives.
Files are merged in order (shipped, then user; by name within each): a later file's
category wins, counts keep the maximum, aliases and translations are unioned. Bad
rows are skipped and counted; a file that cannot be read is reported, never fatal.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000  # per file; more than any real tag list
NAME_MAX = 200
DANBOORU_TYPES = {"0": "general", "1": "artist", "3": "copyright", "4": "character", "5": "meta"}
TAG_HEADER = ["name", "category", "count"]
TRANSLATION_HEADER = ["tag", "translation"]


class TagFileError(ValueError):
    """A whole file that cannot be used (too big, not UTF-8, not a known kind)."""


@dataclass
class ParsedFile:
    kind: str  # "tags" | "translations"
    rows: list = field(default_factory=list)
    skipped: int = 0
    note: Optional[str] = None  # a problem that did not stop the file (cut short)


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdecimal()


def sniff(first_row: list[str]) -> tuple[str, bool]:
    """(kind, whether the row is a header) from a file's first row; TagFileError if neither kind."""
    cells = [c.strip().lower() for c in first_row]
    if cells[:3] == TAG_HEADER:
        return "tags", True
    if cells[:2] == TRANSLATION_HEADER:
        return "translations", True
    if len(cells) >= 3 and _is_int(cells[2]):
        return "tags", False
    if len(cells) == 2:
        return "translations", False
    raise TagFileError("not a tag list (name,category,count,aliases) nor a translation list (tag,translation)")


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def _tag_row(row: list[str]) -> Optional[tuple[str, str, int, list[str]]]:
    if len(row) < 3 or not row[0].strip() or len(row[0].strip()) > NAME_MAX or not _is_int(row[2]):
        return None
    count = int(row[2].strip())
    if count < 0:
        return None
    category = row[1].strip()
    category = DANBOORU_TYPES.get(category, category) or "general"
    aliases = _split(row[3], ",") if len(row) > 3 else []
    return row[0].strip(), category, count, aliases


def _translation_row(row: list[str]) -> Optional[tuple[str, list[str]]]:
    if len(row) < 2 or not row[0].strip() or len(row[0].strip()) > NAME_MAX:
        return None
    translations = _split(row[1], "|")
    return (row[0].strip(), translations) if translations else None


def parse_csv(path: Path) -> ParsedFile:
    """The usable rows of one CSV file; TagFileError when the file cannot be used at all."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TagFileError(f"{size} bytes; files over {MAX_FILE_BYTES} bytes are not read")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TagFileError("not UTF-8 text") from None
    except OSError as exc:
        raise TagFileError(f"cannot be read: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    parsed: Optional[ParsedFile] = None
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if parsed is None:
                kind, header = sniff(row)
                parsed = ParsedFile(kind)
                if header:
                    continue
            if len(parsed.rows) + parsed.skipped >= MAX_ROWS:
                parsed.note = f"only the first {MAX_ROWS} rows are read"
                break
            item = _tag_row(row) if parsed.kind == "tags" else _translation_row(row)
            if item is None:
                parsed.skipped += 1
            else:
                parsed.rows.append(item)
    except csv.Error as exc:
        if parsed is None:
            raise TagFileError(f"not readable as CSV: {exc}") from None
        parsed.note = f"stopped at line {reader.line_num}: {exc}"
    if parsed is None:
        raise TagFileError("empty file")
    return parsed


class TagIndex:
    """Tags and translations merged over files in order."""

    def __init__(self) -> None:
        self.tags: dict[str, list] = {}  # name -> [category, count, aliases]
        self.translations: dict[str, list[str]] = {}

    def add(self, parsed: ParsedFile) -> None:
        if parsed.kind == "translations":
            for name, translations in parsed.rows:
                known = self.translations.setdefault(name, [])
                known.extend(t for t in translations if t not in known)
            return
        for name, category, count, aliases in parsed.rows:
            entry = self.tags.get(name)
            if entry is None:
                self.tags[name] = [category, count, [a for a in dict.fromkeys(aliases) if a != name]]
                continue
            entry[0], entry[1] = category, max(entry[1], count)
            entry[2].extend(a for a in aliases if a not in entry[2] and a != name)

    def sorted_tags(self) -> list[list]:
        items = sorted(self.tags.items(), key=lambda item: (-item[1][1], item[0]))
        return [[name, category, count, aliases] for name, (category, count, aliases) in items]


def csv_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.csv") if p.is_file() and not p.name.startswith("."))


def build(files: list[tuple[str, Path]]) -> dict:
    """The /studio/tags answer for (origin, path) files, in merge order."""
    index = TagIndex()
    sources, problems = [], []
    for origin, path in files:
        try:
            parsed = parse_csv(path)
        except TagFileError as exc:
            problems.append({"file": path.name, "origin": origin, "message": str(exc)})
            continue
        index.add(parsed)
        rows, skipped = len(parsed.rows), parsed.skipped
        sources.append({"file": path.name, "origin": origin, "kind": parsed.kind, "rows": rows, "skipped": skipped})
        if parsed.note:
            problems.append({"file": path.name, "origin": origin, "message": parsed.note})
    return {"tags": index.sorted_tags(), "translations": index.translations, "sources": sources, "problems": problems}


class TagLists:
    """The merged lists as JSON bytes, rebuilt only when a file is added, removed or changed."""

    def __init__(self, shipped_dir: Path, user_dir: Path) -> None:
        self.shipped_dir, self.user_dir = Path(shipped_dir), Path(user_dir)
        self._lock = threading.Lock()
        self._key: Optional[tuple] = None
        self._body, self._etag = b"", ""

    def files(self) -> list[tuple[str, Path]]:
        return [("shipped", p) for p in csv_files(self.shipped_dir)] + [("user", p) for p in csv_files(self.user_dir)]

    @staticmethod
    def _key_of(files: list[tuple[str, Path]]) -> tuple:
        key = []
        for origin, path in files:
            try:
                st = path.stat()
                key.append((origin, str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                key.append((origin, str(path), None, None))
        return tuple(key)

    def payload(self) -> tuple[bytes, str]:
        """(JSON body, ETag); cheap while no file changed (run it in a worker thread)."""
        with self._lock:
            files = self.files()
            key = self._key_of(files)
            if key != self._key:
                body = json.dumps(build(files), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                self._key, self._body = key, body
                self._etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            return self._body, self._etag
