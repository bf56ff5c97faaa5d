"""Opening the queue database safely: a damaged file or a schema this server cannot use
never stops the start and never loses what can still be read.

At start the file is checked (`PRAGMA integrity_check`, which also finds index entries
that no longer match their rows, and the tables' columns). A file that
fails is renamed aside as `<name>.damaged-<YYYYmmdd-HHMMSS>` (with its -wal and -shm
files), a new database is created at the path, and every queue and history row that can
still be read is copied into it, row by row. The rows are read from a scratch copy, so
the file kept aside stays as it was found; when its 100-byte header is the damaged part
(random bytes, or a page count longer than a truncated file), the copy gets a rebuilt one.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    item TEXT NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
TABLES = ("queue", "history", "meta")
UNIQUE_COLUMNS = {"queue": "prompt_id", "history": "prompt_id", "meta": "key"}
# Columns older versions lacked: added in place, with their defaults.
ADDABLE_COLUMNS = {
    "queue": {
        "running": "INTEGER NOT NULL DEFAULT 0",
        "attempts": "INTEGER NOT NULL DEFAULT 0",
    }
}
SQLITE_MAGIC = b"SQLite format 3\x00"
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
# What reading a damaged file may raise (SQLite's message itself may not be UTF-8).
READ_ERRORS = (sqlite3.Error, UnicodeDecodeError)


class DatabaseUnusable(SystemExit):
    """The queue database cannot be opened or replaced (a folder at its path, no
    permission, held by another process). A SystemExit, like the other start-up errors
    (cli.frontends.FrontendMissing): the start ends with this one line and status 1."""


class UnreadableRow(ValueError):
    """A stored row whose JSON does not have the shape this server writes."""


class BadText(bytes):
    """Stored text that is not UTF-8: a flipped byte the page checks do not see."""


def decode_text(raw: bytes) -> Union[str, BadText]:
    """The connections' text factory: a row with bad text is then one unreadable row
    instead of an error that fails the whole query."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadText(raw)


# -- the shape of rows -------------------------------------------------------------------


def parse_item(text: Any) -> list:
    """A queue row's `[number, prompt_id, prompt, extra_data, outputs]`, checked."""
    value = _loads(text)
    if not isinstance(value, list) or len(value) != 5:
        raise UnreadableRow("not a list of 5 values")
    number, prompt_id, _, extra, outputs = value
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise UnreadableRow("its number is not a number")
    if not isinstance(prompt_id, str) or not prompt_id:
        raise UnreadableRow("its prompt id is not a string")
    if not isinstance(extra, dict) or not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise UnreadableRow("its extra_data or outputs have the wrong type")
    return value


def parse_entry(text: Any) -> dict:
    """A history row's entry, checked to be a JSON object."""
    value = _loads(text)
    if not isinstance(value, dict):
        raise UnreadableRow("not a JSON object")
    return value


def _loads(text: Any) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableRow("not UTF-8 text") from None
    if not isinstance(text, str):
        raise UnreadableRow(f"a {type(text).__name__}, not JSON text")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnreadableRow(f"not valid JSON ({exc})") from None


# -- opening -----------------------------------------------------------------------------


def open_database(path: Path) -> sqlite3.Connection:
    """A connection to a usable queue database at `path`, recovering a damaged one;
    raises DatabaseUnusable when there is none to be had."""
    _refuse_unusable_path(path)
    _warn_if_empty(path)
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from None
    try:
        problem = check_database(conn)
        if problem is None:
            _prepare(conn)
            return conn
    except sqlite3.OperationalError as exc:  # locked, unreadable, read-only: not damage
        conn.close()
        raise _unusable(path, exc) from None
    except sqlite3.DatabaseError as exc:  # corrupt, or not a database at all
        problem = str(exc)
    except UnicodeDecodeError:
        problem = "it holds text that is not UTF-8 where SQLite keeps its own records"
    conn.close()
    return rebuild(path, problem)


def _refuse_unusable_path(path: Path) -> None:
    """A folder at the path is the user's: it is neither replaced nor renamed."""
    if path.is_dir():
        raise DatabaseUnusable(
            f"error: the queue database {path} is a folder, not a file; move the folder away "
            "or choose another file for the database"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(f"error: cannot create the folder for the queue database {path}: {exc}") from None


def _warn_if_empty(path: Path) -> None:
    """SQLite takes a 0-byte file for an empty database; this server never leaves one."""
    wal = Path(f"{path}-wal")
    if path.is_file() and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size):
        log.warning("the queue database %s was an empty (0-byte) file; starting a new queue and history in it", path)


def _unusable(path: Path, exc: sqlite3.Error) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"error: cannot use the queue database {path}: {exc} (is another server using it, "
        "or may this user not write there?)"
    )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
    conn.text_factory = decode_text
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    """WAL with synchronous=NORMAL, our tables, and the columns older versions lacked."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
    for name, declaration in ADDABLE_COLUMNS["queue"].items():
        if name not in present:
            conn.execute(f"ALTER TABLE queue ADD COLUMN {name} {declaration}")
    conn.commit()


# -- checking ----------------------------------------------------------------------------


def _expected_columns() -> dict[str, dict[str, tuple[str, int]]]:
    """Each table's columns as (type, primary-key position), read from SCHEMA itself."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        return {t: {r[1]: (r[2].upper(), r[5]) for r in conn.execute(f"PRAGMA table_info({t})")} for t in TABLES}
    finally:
        conn.close()


EXPECTED_COLUMNS = _expected_columns()


def check_database(conn: sqlite3.Connection) -> Optional[str]:
    """None for a file this server can use as it is; else what is wrong with it.
    Raises sqlite3.DatabaseError for a file SQLite cannot read."""
    result = conn.execute("PRAGMA integrity_check").fetchall()
    if result != [("ok",)]:
        return f"the integrity check failed: {result[0][0]}"
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name IN (?, ?, ?)", TABLES).fetchall())
    for table in TABLES:
        if table not in kinds:
            continue  # created empty
        if kinds[table] != "table":
            return f"'{table}' is a {kinds[table]}, not a table"
        problem = _table_problem(conn, table)
        if problem:
            return f"table '{table}' {problem}"
    return None


def _table_problem(conn: sqlite3.Connection, table: str) -> Optional[str]:
    columns = {r[1]: r for r in conn.execute(f"PRAGMA table_info({table})")}
    addable = ADDABLE_COLUMNS.get(table, {})
    for name, (kind, pk) in EXPECTED_COLUMNS[table].items():
        row = columns.get(name)
        if row is None:
            if name not in addable:
                return f"has no column '{name}'"
        elif row[2].upper() != kind or row[5] != pk:
            return f"has a column '{name}' of another kind ({row[2] or 'untyped'})"
    for name, row in columns.items():
        if name not in EXPECTED_COLUMNS[table] and row[3] and row[4] is None and not row[5]:
            return f"has a required column '{name}' this server does not fill"
    if not _is_unique(conn, table, UNIQUE_COLUMNS[table]):
        return f"does not keep '{UNIQUE_COLUMNS[table]}' unique"
    return None


def _is_unique(conn: sqlite3.Connection, table: str, column: str) -> bool:
    for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})"):
        if unique and [r[2] for r in conn.execute(f"PRAGMA index_info('{name}')")] == [column]:
            return True
    return False


# -- rebuilding --------------------------------------------------------------------------


@dataclass
class Salvage:
    """What could be read from a damaged file."""

    queue: list[tuple[str, int, int]] = field(default_factory=list)  # (item text, running, attempts)
    history: list[tuple[str, str]] = field(default_factory=list)  # (prompt id, entry text)
    next_number: Optional[int] = None
    lost: int = 0  # rows found that could not be read
    complete: bool = True  # False when parts of the file could not even be listed

    @property
    def recovered(self) -> int:
        return len(self.queue) + len(self.history)


def rebuild(path: Path, problem: str) -> sqlite3.Connection:
    """Rename the file aside, start a new one at `path` with every readable row, and
    say so in one warning."""
    aside = move_aside(path)
    try:
        salvage = salvage_file(aside)
    except (OSError, *READ_ERRORS) as exc:  # nothing readable; the file aside still has it all
        salvage = Salvage(complete=False)
        problem = f"{problem}; reading it failed: {exc}"
    try:
        conn = _connect(path)
        _prepare(conn)
        _write_salvage(conn, salvage)
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from None
    more = "" if salvage.complete else " (parts of the file could not be read at all, so there may have been more)"
    log.warning(
        "the queue database %s could not be used (%s); it was moved to %s and a new one started with "
        "%d queued prompts and %d history entries recovered, %d rows lost%s",
        path, problem, aside, len(salvage.queue), len(salvage.history), salvage.lost, more,
    )
    return conn


def move_aside(path: Path) -> Path:
    """`<name>.damaged-<stamp>` beside it, with the -wal and -shm files renamed to match."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 2
    while aside.exists():
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    try:
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                os.replace(source, f"{aside}{suffix}")
    except OSError as exc:
        raise DatabaseUnusable(
            f"error: the queue database {path} is damaged and cannot be moved aside: {exc}"
        ) from None
    return aside


def _write_salvage(conn: sqlite3.Connection, salvage: Salvage) -> None:
    """Copy the readable rows into the new file; a row it refuses (a duplicate id) is lost."""
    with conn:
        for text, running, attempts in salvage.queue:
            number, prompt_id = parse_item(text)[:2]
            try:
                conn.execute(
                    "INSERT INTO queue (prompt_id, number, item, running, attempts) VALUES (?, ?, ?, ?, ?)",
                    (prompt_id, float(number), text, running, attempts),
                )
            except sqlite3.IntegrityError:
                salvage.lost += 1
        for prompt_id, text in salvage.history:
            try:
                conn.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?)", (prompt_id, text))
            except sqlite3.IntegrityError:
                salvage.lost += 1
        if salvage.next_number is not None:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_number', ?)", (salvage.next_number,))


def salvage_file(damaged: Path) -> Salvage:
    """The rows of a scratch copy of `damaged`: as it is first, then with rebuilt
    headers; the first complete read wins, else the one that recovered most."""
    best: Optional[Salvage] = None
    with tempfile.TemporaryDirectory(dir=damaged.parent, prefix=".recovering-") as folder:
        scratch = Path(folder) / "copy.sqlite3"
        for header in [None, *_headers_to_try(damaged)]:
            _copy(damaged, scratch, header)
            got = _read_copy(scratch)
            if best is None or got.recovered > best.recovered:
                best = got
            if got.complete:
                break
    return best if best is not None else Salvage(complete=False)


def _copy(source: Path, target: Path, header: Optional[bytes]) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    wal = Path(f"{source}-wal")
    if wal.is_file():
        shutil.copyfile(wal, f"{target}-wal")
    if header is not None:
        with open(target, "r+b") as handle:
            handle.write(header)


def _read_copy(path: Path) -> Salvage:
    salvage = Salvage()
    try:
        conn = sqlite3.connect(str(path))
    except READ_ERRORS:
        return Salvage(complete=False)
    conn.text_factory = decode_text
    try:
        _salvage_queue(conn, salvage)
        _salvage_history(conn, salvage)
        _salvage_next_number(conn, salvage)
    finally:
        conn.close()
    return salvage


def _salvage_queue(conn: sqlite3.Connection, salvage: Salvage) -> None:
    rows = _read_rows(conn, "queue", ("item", "running", "attempts"), salvage)
    for text, running, attempts in rows:
        try:
            parse_item(text)
        except UnreadableRow:
            salvage.lost += 1
            continue
        salvage.queue.append((text, _flag(running), max(_whole(attempts) or 0, 0)))


def _salvage_history(conn: sqlite3.Connection, salvage: Salvage) -> None:
    for prompt_id, text in _read_rows(conn, "history", ("prompt_id", "entry"), salvage):
        try:
            entry = parse_entry(text)
        except UnreadableRow:
            salvage.lost += 1
            continue
        if not isinstance(prompt_id, str):
            prompt = entry.get("prompt")
            prompt_id = prompt[1] if isinstance(prompt, list) and len(prompt) > 1 else None
        if not isinstance(prompt_id, str) or not prompt_id:
            salvage.lost += 1
            continue
        salvage.history.append((prompt_id, text if isinstance(text, str) else json.dumps(entry)))


def _salvage_next_number(conn: sqlite3.Connection, salvage: Salvage) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'next_number'").fetchone()
    except READ_ERRORS:
        return
    salvage.next_number = _whole(row[0]) if row else None


def _read_rows(conn: sqlite3.Connection, table: str, wanted: tuple[str, ...], salvage: Salvage) -> list[tuple]:
    """Every row of `table` that can be fetched, one by one; missing columns read as None.
    Rows found but not fetched count as lost; a table without the first column is lost whole."""
    try:
        present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    except READ_ERRORS:
        salvage.complete = False
        return []
    if not present:
        return []  # no such table
    rowids, listed = _rowids(conn, table)
    salvage.complete &= listed
    if wanted[0] not in present:
        salvage.lost += len(rowids)
        return []
    select = ", ".join(name if name in present else "NULL" for name in wanted)
    rows = []
    for rowid in rowids:
        try:
            row = conn.execute(f"SELECT {select} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except READ_ERRORS:
            row = None
        if row is None:
            salvage.lost += 1
        else:
            rows.append(row)
    return rows


def _rowids(conn: sqlite3.Connection, table: str) -> tuple[list[int], bool]:
    """The row ids, in order, from the table and from its indexes (which often survive
    a damaged table page, and name the rows on it). The flag says whether one of them
    could be listed whole, so that every row was found."""
    scans = [f"SELECT rowid FROM {table} NOT INDEXED ORDER BY rowid",
             f"SELECT rowid FROM {table} NOT INDEXED ORDER BY rowid DESC"]
    try:
        indexes = [row[1] for row in conn.execute(f"PRAGMA index_list({table})")]
        scans += [f'SELECT rowid FROM {table} INDEXED BY "{name}"' for name in indexes]
    except READ_ERRORS:
        pass
    found: set[int] = set()
    complete = False
    for i, query in enumerate(scans):
        got, whole = _scan(conn, query)
        found.update(got)
        complete |= whole
        if whole and i == 0:
            break
    return sorted(found), complete


def _scan(conn: sqlite3.Connection, query: str) -> tuple[list[int], bool]:
    """The ids a query gives up to the first page it cannot read; and whether it finished."""
    got: list[int] = []
    try:
        for (rowid,) in conn.execute(query):
            got.append(rowid)
    except READ_ERRORS:
        return got, False
    return got, True


def _flag(value: Any) -> int:
    return 1 if _whole(value) else 0


def _whole(value: Any) -> Optional[int]:
    """An integer stored value, or None for anything else ('abc', 2.5, NULL)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        return int(value)
    return None


# -- rebuilt headers ---------------------------------------------------------------------


def _headers_to_try(path: Path) -> list[bytes]:
    """Headers for a copy of `path`: its own with the page count fixed (then a new one
    of the same page size, in case another field is the damaged one), or, when the
    header is unreadable, new ones for the page sizes its first page allows."""
    with open(path, "rb") as handle:
        first = handle.read(65536 + 100)
    size = path.stat().st_size
    if len(first) < 108:
        return []
    own = _own_page_size(first)
    if own is not None:
        return [_header(first, own, size, keep=True), _header(first, own, size, keep=False)]
    return [_header(first, page_size, size, keep=False) for page_size in _likely_page_sizes(first)]


def _own_page_size(first: bytes) -> Optional[int]:
    if first[:16] != SQLITE_MAGIC:
        return None
    (raw,) = struct.unpack(">H", first[16:18])
    page_size = 65536 if raw == 1 else raw
    return page_size if page_size in PAGE_SIZES else None


def _likely_page_sizes(first: bytes) -> list[int]:
    """Page 1 holds the schema's b-tree right after the header: its cell offsets must
    fall inside the page, which rules out the smaller sizes."""
    kind = first[100]
    if kind not in (0x05, 0x0D):
        return list(PAGE_SIZES)
    (cells, content) = struct.unpack(">HH", first[103:107])
    pointers_at = 112 if kind == 0x05 else 108
    lowest = content or 65536
    for i in range(min(cells, (len(first) - pointers_at) // 2)):
        (pointer,) = struct.unpack(">H", first[pointers_at + 2 * i:pointers_at + 2 * i + 2])
        lowest = max(lowest, pointer + 1)
    fitting = sorted(size for size in PAGE_SIZES if size >= lowest)
    return fitting or list(PAGE_SIZES)


def _header(first: bytes, page_size: int, file_size: int, keep: bool) -> bytes:
    """A 100-byte header that SQLite accepts: the file's own fields where they are
    trustworthy (`keep`), with the page count matching the file's length."""
    header = bytearray(first[:100]) if keep else bytearray(100)
    header[:16] = SQLITE_MAGIC
    header[16:18] = struct.pack(">H", 1 if page_size == 65536 else page_size)
    if not keep:
        header[18:20] = b"\x01\x01"  # rollback-journal format; SQLite still reads a WAL beside the copy
        header[21:24] = b"\x40\x20\x20"  # payload fractions, fixed by the file format
        header[24:28] = struct.pack(">I", 1)
        header[44:48] = struct.pack(">I", 4)  # schema format
        header[56:60] = struct.pack(">I", 1)  # UTF-8
        header[96:100] = struct.pack(">I", sqlite3.sqlite_version_info[0] * 1_000_000
                                     + sqlite3.sqlite_version_info[1] * 1000 + sqlite3.sqlite_version_info[2])
    header[28:32] = struct.pack(">I", max(1, file_size // page_size))
    header[92:96] = header[24:28]  # the page count is valid for this change counter
    return bytes(header)
