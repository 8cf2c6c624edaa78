"""The MQTT channel: QoS 1 to <topic>/alert with paho-mqtt, taken at the broker's PUBACK.

The channel's own thread drives paho's network loop (`loop()`), so no second thread is needed and
every connection error arrives here as an exception or a CONNACK code that can be named. Each
connection is a fresh client: an alert in flight when the link broke is sent again from the
outbox with its same id, never from paho's memory, so what was taken is decided in one place.

Home Assistant's MQTT discovery (retained config topics) announces a device with an event
entity for the alerts and a binary sensor that is on while an assistant runs; the broker's last
will turns it off when the process dies.
"""

from __future__ import annotations

import logging
import os
import re
import time
from urllib.parse import unquote, urlsplit

from assistant import __version__
from assistant.alerts import message
from assistant.alerts.faults import ChannelError, from_os_error
from assistant.config import AlertSettings

log = logging.getLogger(__name__)

SETTING = "alerts.mqtt_uri"
CONNECT_SECONDS = 5.0
"""How long to wait for the broker to accept a connection (its CONNACK)."""
PUBACK_SECONDS = 10.0
KEEPALIVE = 30
ONLINE, OFFLINE = "online", "offline"
EVENT_TYPES = ("urgent", "emergency", message.TEST)


def paho():
    try:
        import paho.mqtt.client as client
    except ImportError:
        raise ChannelError(f"{SETTING} is set but paho-mqtt is not installed; run ./scripts/setup") from None
    return client


def node_id(topic: str) -> str:
    """The device's id in Home Assistant: the topic, which is already one per assistant."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", topic.strip("/")) or "calf-assistant"


def discovery(settings: AlertSettings) -> dict[str, dict]:
    """Home Assistant discovery topics and their config payloads (published retained)."""
    topic = settings.mqtt_topic.strip("/")
    node = node_id(topic)
    device = {
        "identifiers": [node],
        "name": "Calf assistant",
        "manufacturer": "calf-assistant",
        "model": "calf-assistant",
        "sw_version": __version__,
    }
    origin = {"name": "calf-assistant", "sw_version": __version__}
    prefix = settings.discovery_prefix.strip("/")
    return {
        f"{prefix}/event/{node}/alert/config": {
            "name": "Alert",
            "unique_id": f"{node}_alert",
            "state_topic": f"{topic}/alert",
            "event_types": list(EVENT_TYPES),
            "availability_topic": f"{topic}/status",
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "qos": 1,
            "icon": "mdi:alert",
            "device": device,
            "origin": origin,
        },
        f"{prefix}/binary_sensor/{node}/running/config": {
            "name": "Running",
            "unique_id": f"{node}_running",
            "state_topic": f"{topic}/status",
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
            "device_class": "running",
            "qos": 1,
            "device": device,
            "origin": origin,
        },
    }


class Mqtt:
    name = "mqtt"

    def __init__(self, settings: AlertSettings, *, announce: bool = False):
        self.settings = settings
        self.announce = announce
        """Say online/offline on <topic>/status and publish discovery: only the assistant's own
        long-running loop does, so a one-off command never marks it stopped."""
        parts = urlsplit(settings.mqtt_uri)
        self.tls = parts.scheme == "mqtts"
        self.host = parts.hostname or ""
        self.port = parts.port or (8883 if self.tls else 1883)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.where = f"{self.host}:{self.port}"
        self.topic = settings.mqtt_topic.strip("/")
        self.client = None
        self.acked: set[int] = set()
        self.next_connect = 0.0
        self.failures = 0

    # ---- the connection ----------------------------------------------------------------------

    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected()

    def connect(self) -> None:
        """A fresh, accepted connection, or ChannelError naming why not."""
        self.drop()
        mqtt = paho()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"calf-assistant-{node_id(self.topic)}-{os.getpid()}",
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.connect_timeout = CONNECT_SECONDS
        if self.user is not None:
            client.username_pw_set(self.user, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.settings.mqtt_ca_file or None)
        if self.announce:
            client.will_set(f"{self.topic}/status", OFFLINE, qos=1, retain=True)
        answer: dict = {}
        client.on_connect = lambda _c, _u, _flags, code, _p: answer.setdefault("code", code)
        client.on_disconnect = lambda _c, _u, _flags, code, _p: answer.setdefault("closed", code)
        client.on_publish = lambda _c, _u, mid, _code, _p: self.acked.add(mid)
        try:
            client.connect(self.host, self.port, keepalive=KEEPALIVE)
        except (OSError, ValueError) as error:
            raise from_os_error(SETTING, self.where, error,
                                tls_hint="set alerts.mqtt_ca_file to the CA certificate that signed the broker's") from None
        deadline = time.monotonic() + CONNECT_SECONDS
        while "code" not in answer and "closed" not in answer and time.monotonic() < deadline:
            if client.loop(0.1) not in (mqtt.MQTT_ERR_SUCCESS,) and "code" not in answer:
                answer.setdefault("closed", None)
        code = answer.get("code")
        if code is None:
            client.disconnect()
            hint = ("is it a TLS port? then use mqtts://" if not self.tls else "check the port")
            raise ChannelError(f"{SETTING}: the broker at {self.where} closed the connection without answering; {hint}")
        if code.is_failure:
            client.disconnect()
            if code.value in (4, 5, 134, 135):
                raise ChannelError(f"{SETTING}: the broker at {self.where} refused the login ({code}); "
                                   "check the user name and password in the address")
            raise ChannelError(f"{SETTING}: the broker at {self.where} refused the connection ({code})")
        self.client = client
        self.failures = 0
        if self.announce:
            self._announce()

    def _announce(self) -> None:
        if self.settings.discovery_prefix:
            for topic, config in discovery(self.settings).items():
                self.client.publish(topic, message.encoded(config), qos=1, retain=True)
        self.client.publish(f"{self.topic}/status", ONLINE, qos=1, retain=True)

    def drop(self) -> None:
        if self.client is not None:
            try:
                self.client.disconnect()
                self.client.loop(0.1)
            except Exception:  # a dead socket: nothing left to close politely
                pass
        self.client = None
        self.acked.clear()

    # ---- the channel ---------------------------------------------------------------------------

    def send(self, payload: dict) -> None:
        """Returns once the broker acknowledged the alert (PUBACK); raises ChannelError otherwise."""
        if not self.connected():
            self.connect()
        mqtt = paho()
        info = self.client.publish(f"{self.topic}/alert", message.encoded(payload), qos=1)
        deadline = time.monotonic() + PUBACK_SECONDS
        while info.mid not in self.acked:
            if info.rc != mqtt.MQTT_ERR_SUCCESS or not self.connected() or time.monotonic() > deadline:
                self.drop()
                raise ChannelError(f"{SETTING}: the broker at {self.where} did not acknowledge the alert; it is kept and sent again")
            self.client.loop(0.1)
        self.acked.discard(info.mid)

    def idle(self, seconds: float, wake) -> None:
        """Keep the connection alive (and the status online) until woken or the time is up."""
        deadline = time.monotonic() + seconds
        while not wake.is_set() and time.monotonic() < deadline:
            if self.connected():
                self.client.loop(0.1)
                continue
            if self.client is not None:
                self.drop()  # the broker went away; its last will has said offline for us
            if self.announce and time.monotonic() >= self.next_connect:
                try:
                    self.connect()
                except ChannelError as error:
                    self.failures += 1
                    self.next_connect = time.monotonic() + min(self.settings.retry_max, 2.0 ** (self.failures - 1))
                    self.report(error)
                continue
            wake.wait(min(0.5, max(0.0, deadline - time.monotonic())))

    report = staticmethod(lambda error: None)
    """Replaced by the sender with its once-per-reason log line."""

    def close(self) -> None:
        if self.connected() and self.announce:
            info = self.client.publish(f"{self.topic}/status", OFFLINE, qos=1, retain=True)
            deadline = time.monotonic() + 2.0
            while info.mid not in self.acked and self.connected() and time.monotonic() < deadline:
                self.client.loop(0.1)
        self.drop()
