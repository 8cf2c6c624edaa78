"""Caregiver alerts: tell someone at once when the assistant gave urgent or emergency advice.

`Watch` is the whole hook into a conversation: `raised()` says which alerts a turn raised (the
diary writes them in the turn's own transaction), `after()` hands them to the process's sender.
Sending happens on background threads (assistant.alerts.sender); nothing here waits for a
network, so the advice is never delayed by it.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import uuid
from pathlib import Path

from assistant.alerts.message import ADVICE_REPLY, Alert, rank
from assistant.config import Settings

log = logging.getLogger(__name__)

EXIT_DRAIN = 5.0
"""Seconds a finishing command (a piped `chat`) gives waiting alerts to go out before it ends;
what is still waiting then stays in the outbox for the next start."""

_sender = None
_lock = threading.Lock()


def start(settings: Settings, *, announce: bool = False, path: Path | None = None):
    """The process's sender for these settings, started once (again when the settings changed).

    `announce`: this is the assistant's long-running loop (`run`, `serve`), which says on
    <topic>/status that it runs and publishes Home Assistant's discovery.
    """
    global _sender
    if not settings.alerts.enabled:
        return None
    from assistant.alerts.sender import Sender

    with _lock:
        current = _sender
        if current is not None and current.settings == settings.alerts and current.path == path \
                and (current.announce or not announce):
            return current
        if current is not None:
            current.stop()
        _sender = Sender(settings.alerts, path, announce=announce or bool(current and current.announce))
        return _sender


def stop(drain: float = 0.0) -> None:
    global _sender
    with _lock:
        current, _sender = _sender, None
    if current is not None:
        current.stop(drain)


atexit.register(lambda: stop(EXIT_DRAIN))


def _safely(work, *args, **kwargs):
    # Alerts are for the caregiver; a fault in them must never cost the person their advice.
    try:
        return work(*args, **kwargs)
    except Exception as error:
        from assistant.alerts.sender import say

        say(f"alerts are not working here ({type(error).__name__}: {error})")
        return None


class Watch:
    """One conversation's alerts: each new danger is told once, not at every later turn."""

    def __init__(self, settings: Settings, path: Path | None = None):
        self.path = path
        self._reset()
        # At once, not at the first alert: what a killed run left in the outbox goes out now.
        _safely(start, settings, path=path)

    def _reset(self) -> None:
        self.conversation = uuid.uuid4().hex
        self.told_rank = -1
        self.told_flags: frozenset[str] = frozenset()

    def raised(self, state, settings: Settings, *, closed: bool = False) -> list[Alert]:
        """The alerts the state's last turn raises (none, or one)."""
        alerts = settings.alerts
        turn = state.last
        found = []
        if alerts.enabled and turn is not None and rank(turn.level) >= rank(alerts.level):
            new_flags = set(turn.red_flags) - self.told_flags
            if rank(turn.level) > self.told_rank or new_flags:
                language = state.language if state.language in ("en", "id") else turn.language
                channels = tuple(name for name, value in (("mqtt", alerts.mqtt_uri), ("webhook", alerts.webhook_url)) if value)
                found.append(Alert(
                    level=turn.level, red_flags=tuple(turn.red_flags), language=language,
                    numbers=settings.emergency_numbers(language), conversation=self.conversation,
                    reply=ADVICE_REPLY.get(turn.level, ""), question=turn.question,
                    words=tuple(state.heard) if alerts.include_words else None, channels=channels,
                ))
                self.told_rank = max(self.told_rank, rank(turn.level))
                self.told_flags |= set(turn.red_flags)
        if closed:
            self._reset()
        return found

    def after(self, alerts: list[Alert], settings: Settings, *, written: bool) -> None:
        """The turn was written with its alerts (`written`), or not: then they get their own
        transaction, or, when even that fails, go out from memory."""
        if alerts:
            _safely(self._hand_over, alerts, settings, written)

    def _hand_over(self, alerts: list[Alert], settings: Settings, written: bool) -> None:
        sender = start(settings, path=self.path)
        if not written:
            from assistant.alerts import outbox

            try:
                outbox.store(alerts, self.path)
            except (sqlite3.Error, OSError) as error:
                log.warning("alerts could not be stored in the outbox (%s); sending them from memory", error)
                if sender is not None:
                    sender.hold([alert.payload() for alert in alerts])
                return
        if sender is not None:
            sender.wake()
