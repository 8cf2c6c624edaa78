"""The outbox: alerts not yet taken by their channel, in the diary's SQLite database.

One row per alert and channel. A row is written in the same transaction as the turn that raised
it and deleted only when its channel took the alert (the broker's PUBACK, or a 2xx answer), so a
kill or a pulled plug at any moment leaves either no turn and no alert, or both.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Waiting:
    alert_id: str
    channel: str
    raised_at: str
    payload: dict
    tries: int
    next_try: float
    """Seconds since the epoch of the next try."""
    last_error: str


def add(connection: sqlite3.Connection, alert) -> None:
    payload = json.dumps(alert.payload(), ensure_ascii=False)
    connection.executemany(
        "INSERT OR IGNORE INTO outbox (alert_id, channel, raised_at, payload) VALUES (?, ?, ?, ?)",
        [(alert.id, channel, alert.time, payload) for channel in alert.channels],
    )


def store(alerts, path: Path | None = None) -> None:
    """Alerts in a transaction of their own (the diary is off, or its turn could not be written)."""
    from assistant import diary

    with closing(diary.writable(path)) as connection, connection:
        for alert in alerts:
            add(connection, alert)


def _rows(connection: sqlite3.Connection, where: str = "", parameters: tuple = ()) -> list[Waiting]:
    query = "SELECT alert_id, channel, raised_at, payload, tries, next_try, last_error FROM outbox"
    rows = connection.execute(f"{query} {where} ORDER BY raised_at, alert_id", parameters).fetchall()
    return [Waiting(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6]) for row in rows]


def waiting(connection: sqlite3.Connection, channel: str | None = None) -> list[Waiting]:
    if channel is None:
        return _rows(connection)
    return _rows(connection, "WHERE channel = ?", (channel,))


def due(connection: sqlite3.Connection, channel: str, now: float | None = None) -> tuple[list[Waiting], float | None]:
    """The rows to try now, and when the next one after them is due (None: nothing waits)."""
    now = time.time() if now is None else now
    rows = waiting(connection, channel)
    ready = [row for row in rows if row.next_try <= now]
    later = [row.next_try for row in rows if row.next_try > now]
    return ready, (min(later) if later else None)


def taken(connection: sqlite3.Connection, row: Waiting) -> None:
    with connection:
        connection.execute("DELETE FROM outbox WHERE alert_id = ? AND channel = ?", (row.alert_id, row.channel))


def failed(connection: sqlite3.Connection, row: Waiting, reason: str, next_try: float) -> None:
    with connection:
        connection.execute(
            "UPDATE outbox SET tries = tries + 1, next_try = ?, last_error = ? WHERE alert_id = ? AND channel = ?",
            (next_try, reason, row.alert_id, row.channel),
        )


def drop_channel(connection: sqlite3.Connection, channel: str) -> int:
    """Rows for a channel the settings no longer name: nobody could ever take them."""
    with connection:
        return connection.execute("DELETE FROM outbox WHERE channel = ?", (channel,)).rowcount
