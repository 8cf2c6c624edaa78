"""The sender: one background thread per channel, so no turn ever waits for a broker.

Each thread reads its channel's due rows from the outbox, sends them oldest first, deletes a row
when the channel took it and otherwise sets its next try with a doubling wait (1, 2, 4 ... up to
alerts.retry_max seconds). A fault is reported once when it starts and once when it is over, not
at every try, so a dead broker does not fill the log.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

from assistant.alerts import message, outbox
from assistant.alerts.faults import ChannelError
from assistant.config import AlertSettings

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0
"""The longest a thread sleeps without looking at the outbox (alerts from other processes)."""


def say(line: str) -> None:
    """A fault line for the log and for whoever watches the assistant's stderr."""
    log.warning(line)
    print(f"calf-assistant: alerts: {line}", file=sys.stderr, flush=True)


def channels(settings: AlertSettings, *, announce: bool = False) -> list:
    found = []
    if settings.mqtt_uri:
        from assistant.alerts.mqtt import Mqtt

        found.append(Mqtt(settings, announce=announce))
    if settings.webhook_url:
        from assistant.alerts.webhook import Webhook

        found.append(Webhook(settings.webhook_url))
    return found


def next_wait(tries: int, most: float) -> float:
    return min(most, 2.0 ** max(0, tries))


class Courier(threading.Thread):
    """The thread that carries one channel's alerts."""

    def __init__(self, channel, settings: AlertSettings, path: Path | None):
        super().__init__(name=f"alerts-{channel.name}", daemon=True)
        self.channel = channel
        self.settings = settings
        self.path = path
        self.wake = threading.Event()
        self.stopping = False
        self.fault: str | None = None
        self.held: list[dict] = []
        """Alerts that could not be stored in the outbox (a full disk): sent from memory."""
        self.lock = threading.Lock()
        self.busy = False
        channel.report = self.report

    def report(self, error: ChannelError) -> None:
        if str(error) != self.fault:
            say(str(error))
        self.fault = str(error)

    def _recovered(self) -> None:
        if self.fault is not None:
            say(f"{self.channel.name} works again")
        self.fault = None

    def run(self) -> None:
        while not self.stopping:
            self.wake.clear()
            pause = self._round()
            if self.stopping:
                break
            self.channel.idle(pause, self.wake)
        self.channel.close()

    def _round(self) -> float:
        """Try what is due; the seconds until the next try."""
        self.busy = True
        try:
            with self.lock:
                held, self.held = self.held, []
            for index, payload in enumerate(held):
                try:
                    self.channel.send(message.as_sent(payload, self.settings.late_after))
                except ChannelError as error:
                    self.report(error)
                    with self.lock:
                        self.held = held[index:] + self.held
                    return next_wait(1, self.settings.retry_max)
            if held:
                self._recovered()
            try:
                with closing(_connect(self.path)) as connection:
                    return self._send_due(connection)
            except sqlite3.Error as error:
                say(f"the outbox in the diary cannot be read ({error}); trying again")
                return next_wait(3, self.settings.retry_max)
        finally:
            self.busy = False

    def _send_due(self, connection: sqlite3.Connection) -> float:
        rows, later = outbox.due(connection, self.channel.name)
        for row in rows:
            if self.stopping:
                return 0.0
            try:
                self.channel.send(message.as_sent(row.payload, self.settings.late_after))
            except ChannelError as error:
                self.report(error)
                wait = next_wait(row.tries, self.settings.retry_max)
                outbox.failed(connection, row, str(error), time.time() + wait)
                # The channel is down: the rest wait with this one instead of each failing in turn.
                return wait
            outbox.taken(connection, row)
            self._recovered()
            log.info("alert %s taken by %s", row.alert_id, self.channel.name)
        if later is None:
            return IDLE_SECONDS
        return max(0.0, min(IDLE_SECONDS, later - time.time()))


def _connect(path: Path | None) -> sqlite3.Connection:
    from assistant import diary

    return diary.writable(path)


class Sender:
    """The process's couriers, started once and told when a new alert is in the outbox."""

    def __init__(self, settings: AlertSettings, path: Path | None = None, *, announce: bool = False):
        self.settings = settings
        self.path = path
        self.announce = announce
        self.couriers = [Courier(channel, settings, path) for channel in channels(settings, announce=announce)]
        self._drop_orphans()
        for courier in self.couriers:
            courier.start()

    def _drop_orphans(self) -> None:
        named = {courier.channel.name for courier in self.couriers}
        try:
            with closing(_connect(self.path)) as connection:
                for channel in ("mqtt", "webhook"):
                    if channel not in named:
                        dropped = outbox.drop_channel(connection, channel)
                        if dropped:
                            say(f"{dropped} alert(s) waited for {channel}, which the settings no longer name; dropped them")
        except sqlite3.Error as error:
            say(f"the outbox in the diary cannot be read ({error})")

    def wake(self) -> None:
        for courier in self.couriers:
            courier.wake.set()

    def hold(self, payloads: list[dict]) -> None:
        """Alerts the outbox could not take: keep them in memory and send them all the same."""
        for courier in self.couriers:
            with courier.lock:
                courier.held.extend(payloads)
        self.wake()

    def pending(self) -> int:
        try:
            with closing(_connect(self.path)) as connection:
                stored = len(outbox.waiting(connection))
        except sqlite3.Error:
            stored = 0
        return stored + sum(len(courier.held) for courier in self.couriers)

    def stop(self, drain: float = 0.0) -> None:
        """Stop the couriers; first give what is waiting up to `drain` seconds to go out."""
        deadline = time.monotonic() + drain
        self.wake()
        while drain and time.monotonic() < deadline and self.pending():
            time.sleep(0.1)
        for courier in self.couriers:
            courier.stopping = True
            courier.wake.set()
        for courier in self.couriers:
            courier.join(timeout=max(1.0, deadline - time.monotonic()) if drain else 3.0)
