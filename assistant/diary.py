"""The caregiver's diary: every conversation, kept locally in SQLite as it happens.

One file, data_home()/diary.sqlite3, readable only by the user (file 0600, folder 0700). Nothing
here opens a network connection. The schema carries a version (PRAGMA user_version) and each
version's change is a step in MIGRATIONS, so a later release upgrades old diaries in place
without losing entries.

A conversation is written turn by turn (`Record`): its row is created at the first meaningful
turn and each later turn is committed before its reply is spoken, in WAL mode with synchronous
writes, so a pulled plug loses at most the turn in flight and readers (`diary` while `run` is
live) never block the writer nor see half a turn. A row still open names its writer (boot and
process); when that writer is gone the entry reads as cut off. A diary that is corrupt, or was
written by a newer release, is moved aside with a one-line reason and a fresh one started: the
record is never a reason to stop helping.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from assistant.config import Settings, data_home
from assistant.errors import AssistantError, InputError

FILE_NAME = "diary.sqlite3"
RED_FLAG_MARK = "!! RED FLAG"
URGENT_MARK = "!  URGENT"

MIGRATIONS: tuple[str, ...] = (
    # 1: a conversation and its turns in speaking order.
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT NOT NULL,
        language TEXT NOT NULL,
        triage TEXT NOT NULL,
        red_flags TEXT NOT NULL,
        causes TEXT NOT NULL,
        present TEXT NOT NULL,
        absent TEXT NOT NULL,
        finished INTEGER NOT NULL
    );
    CREATE TABLE turns (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        speaker TEXT NOT NULL CHECK (speaker IN ('person', 'assistant')),
        text TEXT NOT NULL,
        audio BLOB,
        PRIMARY KEY (conversation_id, position)
    );
    CREATE INDEX conversations_by_time ON conversations(started_at);
    """,
    # 2: conversations are written as they happen; an open one names its writer ("" once closed).
    """
    ALTER TABLE conversations ADD COLUMN writer TEXT NOT NULL DEFAULT '';
    """,
    # 3: caregiver alerts not yet taken by their channel (assistant.alerts.outbox), one row per
    # alert and channel, so a kill between the turn and the send loses nothing.
    """
    CREATE TABLE outbox (
        alert_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0,
        next_try REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (alert_id, channel)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Entry:
    started_at: str
    """UTC, ISO 8601."""
    ended_at: str
    language: str
    triage: str
    red_flags: tuple[str, ...]
    causes: tuple[tuple[str, float], ...]
    present: tuple[str, ...]
    absent: tuple[str, ...]
    heard: tuple[str, ...]
    """What the person said, in order."""
    said: tuple[str, ...]
    """What the assistant said (the advice given), in order."""
    finished: bool = True
    """False when the conversation was cut off (end of input, Ctrl-C, a kill) before its end."""
    in_progress: bool = False
    """Still being written by a live assistant."""
    audio: tuple[bytes | None, ...] = ()
    """Recordings of what the person said, aligned with heard; stored only if keep_audio is on."""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "language": self.language,
            "triage": self.triage,
            "red_flags": list(self.red_flags),
            "causes": [{"id": cid, "score": score} for cid, score in self.causes],
            "present": list(self.present),
            "absent": list(self.absent),
            "heard": list(self.heard),
            "said": list(self.said),
            "finished": self.finished,
            "in_progress": self.in_progress,
        }


def entry_from(state, started_at: str, *, finished: bool = True, audio: tuple[bytes | None, ...] = ()) -> Entry:
    """A diary entry from a dialogue State (assistant.dialogue.State)."""
    from datetime import datetime, timezone

    last = state.last
    return Entry(
        started_at=started_at,
        ended_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        language=state.language,
        triage=last.level if last else "none",
        red_flags=tuple(last.red_flags) if last else (),
        causes=tuple(last.causes) if last else (),
        present=tuple(sorted(state.present)),
        absent=tuple(sorted(state.absent)),
        heard=tuple(state.heard),
        said=tuple(state.said),
        finished=finished,
        audio=audio,
    )


def diary_path() -> Path:
    return data_home() / FILE_NAME


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def _private_file(path: Path) -> None:
    # Create it ourselves with 0600 so there is no moment when another user could open it.
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise AssistantError(f"the diary {path} was written by a newer calf-assistant; upgrade with ./scripts/setup")
    for number in range(version, SCHEMA_VERSION):
        # One transaction per step: an interrupted upgrade leaves the previous version intact.
        connection.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;")


BUSY_MS = 5000
"""How long a reader or writer waits for the other's lock before giving up."""


def connect(path: Path | None = None, *, create: bool = True) -> sqlite3.Connection:
    path = path or diary_path()
    if create:
        _private_folder(path.parent)
        _private_file(path)
    connection = sqlite3.connect(path, timeout=BUSY_MS / 1000)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        if create:
            # WAL: readers see the last committed turn and never block the writer;
            # synchronous FULL: a committed turn survives a power cut.
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        _migrate(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def _moved_aside(path: Path, reason: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.{reason.split()[0]}-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            side.rename(Path(str(kept) + suffix))
    return kept


def writable(path: Path | None = None) -> sqlite3.Connection:
    """A connection for writing; a corrupt or newer diary is moved aside and a fresh one started."""
    path = path or diary_path()
    try:
        connection = connect(path)
        connection.execute("SELECT count(*) FROM conversations").fetchone()
        return connection
    except (sqlite3.DatabaseError, AssistantError) as error:
        if isinstance(error, sqlite3.DatabaseError) and not _damaged(error):
            raise  # locked, full disk, no permission: a reason to skip this write, not to move the file
        newer = isinstance(error, AssistantError)
        kept = _moved_aside(path, "newer" if newer else "broken")
        why = "was written by a newer calf-assistant" if newer else f"is damaged ({error})"
        print(f"calf-assistant: the diary {path} {why}; kept it as {kept.name} and started a new one",
              file=sys.stderr, flush=True)
        return connect(path)


def _damaged(error: sqlite3.DatabaseError) -> bool:
    message = str(error).lower()
    return "not a database" in message or "malformed" in message or "corrupt" in message


def writer_tag() -> str:
    """This process on this boot: an open entry whose writer tag is not alive was cut off."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown-boot"
    return f"{boot}:{os.getpid()}"


def _writer_alive(tag: str) -> bool:
    boot, _, pid = tag.rpartition(":")
    if not pid.isdigit() or boot != writer_tag().rpartition(":")[0]:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Record:
    """One conversation in the diary, written turn by turn as it happens."""

    def __init__(self, settings: Settings, path: Path | None = None):
        self.settings = settings
        self.path = path
        self.id: int | None = None
        self.turns_written = 0

    def write(self, entry: Entry, *, closed: bool, alerts: Iterable[Any] = ()) -> int:
        """Commit the entry's new turns and its current assessment, in one transaction; with the
        caregiver alerts this turn raised (assistant.alerts.Alert), so the turn is never on disk
        without its alert."""
        keep_audio = self.settings.diary.keep_audio
        writer = "" if closed else writer_tag()
        with closing(writable(self.path)) as connection, connection:
            values = (
                entry.ended_at, entry.language, entry.triage, json.dumps(list(entry.red_flags)),
                json.dumps([[cid, score] for cid, score in entry.causes]), json.dumps(list(entry.present)),
                json.dumps(list(entry.absent)), int(entry.finished), writer,
            )
            if self.id is not None:
                cursor = connection.execute(
                    "UPDATE conversations SET ended_at = ?, language = ?, triage = ?, red_flags = ?, causes = ?,"
                    " present = ?, absent = ?, finished = ?, writer = ? WHERE id = ?", (*values, self.id),
                )
                if cursor.rowcount == 0:  # the diary was moved aside meanwhile: start this entry again
                    self.id, self.turns_written = None, 0
            if self.id is None:
                cursor = connection.execute(
                    "INSERT INTO conversations (started_at, ended_at, language, triage, red_flags, causes, present,"
                    " absent, finished, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (entry.started_at, *values),
                )
                self.id = cursor.lastrowid
            turns = list(_interleave(entry))
            connection.executemany(
                "INSERT INTO turns (conversation_id, position, speaker, text, audio) VALUES (?, ?, ?, ?, ?)",
                [
                    (self.id, position, speaker, text, audio if keep_audio else None)
                    for position, (speaker, text, audio) in enumerate(turns)
                    if position >= self.turns_written
                ],
            )
            for alert in alerts:
                alert.store(connection)
        self.turns_written = len(turns)
        return self.id


def save(entry: Entry, settings: Settings, path: Path | None = None) -> int:
    """Store one whole conversation; audio only when the settings allow it. Returns the entry id."""
    return Record(settings, path).write(entry, closed=True)


def _interleave(entry: Entry) -> Iterable[tuple[str, str, bytes | None]]:
    """Greeting first, then each thing the person said followed by the answer to it."""
    said = list(entry.said)
    if len(said) > len(entry.heard):
        yield "assistant", said.pop(0), None
    for index, text in enumerate(entry.heard):
        audio = entry.audio[index] if index < len(entry.audio) else None
        yield "person", text, audio
        if said:
            yield "assistant", said.pop(0), None
    for text in said:
        yield "assistant", text, None


def load(path: Path | None = None, limit: int | None = None) -> list[Entry]:
    """Entries newest first; all of them when limit is None."""
    path = path or diary_path()
    if not path.exists():
        return []
    try:
        connection = connect(path, create=False)
    except sqlite3.DatabaseError as error:
        raise InputError(f"the diary {path} cannot be read ({error}); the assistant will keep it aside and start a new one") from None
    with closing(connection):
        query = "SELECT id, started_at, ended_at, language, triage, red_flags, causes, present, absent, finished,"
        query += " writer"
        query += " FROM conversations ORDER BY started_at DESC, id DESC"
        parameters: tuple[int, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            parameters = (limit,)
        entries = []
        for row in connection.execute(query, parameters).fetchall():
            turns = connection.execute(
                "SELECT speaker, text FROM turns WHERE conversation_id = ? ORDER BY position", (row[0],)
            ).fetchall()
            entries.append(
                Entry(
                    id=row[0],
                    started_at=row[1],
                    ended_at=row[2],
                    language=row[3],
                    triage=row[4],
                    red_flags=tuple(json.loads(row[5])),
                    causes=tuple((cid, score) for cid, score in json.loads(row[6])),
                    present=tuple(json.loads(row[7])),
                    absent=tuple(json.loads(row[8])),
                    heard=tuple(text for speaker, text in turns if speaker == "person"),
                    said=tuple(text for speaker, text in turns if speaker == "assistant"),
                    finished=bool(row[9]),
                    in_progress=bool(row[10]) and _writer_alive(row[10]),
                )
            )
        return entries


# ---- `calf-assistant diary` --------------------------------------------------------------------

CSV_COLUMNS = (
    "id", "started_at", "ended_at", "language", "triage", "red_flags", "causes",
    "present", "absent", "heard", "said", "finished",
)


def _cell(value: str) -> str:
    # Spreadsheets run cells starting with these as formulas; a caregiver opens this file in one.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(entries: list[Entry], stream) -> None:
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.id,
                entry.started_at,
                entry.ended_at,
                entry.language,
                entry.triage,
                ";".join(entry.red_flags),
                ";".join(f"{cid}:{score}" for cid, score in entry.causes),
                ";".join(entry.present),
                ";".join(entry.absent),
                _cell(" | ".join(entry.heard)),
                _cell(" | ".join(entry.said)),
                int(entry.finished),
            ]
        )


def _mark(entry: Entry) -> str:
    if entry.red_flags:
        return f"{RED_FLAG_MARK}: {', '.join(entry.red_flags)}"
    if entry.triage in ("urgent", "emergency"):
        return URGENT_MARK
    return ""


def format_entry(entry: Entry) -> list[str]:
    when = entry.started_at.replace("T", " ").replace("+00:00", " UTC")
    head = f"#{entry.id}  {when}  [{entry.language}]  triage: {entry.triage}"
    if entry.in_progress:
        head += "  (in progress)"
    elif not entry.finished:
        head += "  (cut off)"
    lines = [f"{_mark(entry)}  {head}" if _mark(entry) else head]
    if entry.causes:
        lines.append("  likely: " + ", ".join(f"{cid} ({score:.0%})" for cid, score in entry.causes))
    for text in entry.heard:
        lines.append(f"  person: {text}")
    if entry.said:
        lines.append(f"  advice: {entry.said[-1]}")
    return lines


def diary_command(args, settings: Settings) -> int:
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be 1 or more")
    if args.csv is not None:
        entries = load()
        if str(args.csv) == "-":
            write_csv(entries, sys.stdout)
        else:
            try:
                with open(args.csv, "w", newline="", encoding="utf-8", opener=_private_opener) as stream:
                    write_csv(entries, stream)
            except OSError as error:
                raise InputError(f"cannot write {args.csv}: {error.strerror}") from None
            print(f"{len(entries)} entries written to {args.csv}", file=sys.stderr)
        return 0
    entries = load(limit=args.limit)
    if args.json:
        print(json.dumps([entry.to_dict() for entry in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        print(f"The diary is empty ({diary_path()}).")
        return 0
    flagged = sum(1 for entry in entries if entry.red_flags)
    if flagged:
        print(f"{flagged} of these {len(entries)} conversations had a danger sign (marked {RED_FLAG_MARK}).\n")
    for entry in entries:
        print("\n".join(format_entry(entry)))
        print()
    return 0


def _private_opener(path: str, flags: int) -> int:
    # An export holds health information; keep it as private as the diary itself.
    return os.open(path, flags, 0o600)
