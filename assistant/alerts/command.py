"""`calf-assistant alerts test` and `alerts status`: is the caregiver reachable, and what waits."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing

from assistant.alerts import message, outbox
from assistant.alerts.faults import ChannelError
from assistant.alerts.message import Alert
from assistant.alerts.sender import channels
from assistant.config import Settings
from assistant.errors import InputError

NOTHING_SET = "no alert channel is set: set alerts.mqtt_uri or alerts.webhook_url in the settings file"


def test_alert(settings: Settings) -> Alert:
    language = settings.language if settings.language in ("en", "id") else "en"
    return Alert(level=message.TEST, red_flags=(), language=language, numbers=settings.emergency_numbers(language),
                 conversation=uuid.uuid4().hex)


def alerts_command(args, settings: Settings) -> int:
    if args.alerts_command == "status":
        return _status(args, settings)
    if not settings.alerts.enabled:
        raise InputError(NOTHING_SET)
    payload = test_alert(settings).payload()
    failed = 0
    for channel in channels(settings.alerts):
        try:
            channel.send(payload)
            print(f"{channel.name}: taken by {channel.where}", flush=True)
        except ChannelError as error:
            failed += 1
            print(f"{channel.name}: not taken: {error}", flush=True)
        finally:
            channel.close()
    return 1 if failed else 0


def _status(args, settings: Settings) -> int:
    from assistant import diary

    rows: list[outbox.Waiting] = []
    if diary.diary_path().exists():
        try:
            with closing(diary.connect(create=False)) as connection:
                rows = outbox.waiting(connection)
        except sqlite3.Error as error:
            raise InputError(f"the diary {diary.diary_path()} cannot be read ({error})") from None
    if args.json:
        print(json.dumps([{"id": row.alert_id, "channel": row.channel, "raised_at": row.raised_at,
                           "level": row.payload.get("level"), "tries": row.tries, "last_error": row.last_error}
                          for row in rows], ensure_ascii=False, indent=1))
        return 0
    named = [name for name, value in (("mqtt", settings.alerts.mqtt_uri), ("webhook", settings.alerts.webhook_url)) if value]
    print(f"channels: {', '.join(named) if named else 'none (' + NOTHING_SET + ')'}")
    if not rows:
        print("nothing is waiting: every alert was taken")
        return 0
    print(f"{len(rows)} waiting:")
    for row in rows:
        why = f"; last try: {row.last_error}" if row.last_error else ""
        print(f"  {row.raised_at}  {row.payload.get('level')}  {row.channel}  tries {row.tries}{why}")
    return 0
