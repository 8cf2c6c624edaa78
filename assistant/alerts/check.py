"""`doctor`'s look at the alert channels: can each be reached, without sending an alert.

MQTT is checked by a real login (no message published); the webhook by opening its connection
(and TLS) without a request, since any request to an ntfy topic would be a notification.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from assistant.alerts.faults import ChannelError, from_os_error
from assistant.config import AlertSettings

TIMEOUT = 5.0


def channels(settings: AlertSettings) -> list[tuple[str, str | None]]:
    found = []
    if settings.mqtt_uri:
        from assistant.alerts.mqtt import Mqtt

        mqtt = Mqtt(settings)
        try:
            mqtt.connect()
            found.append(("mqtt", None))
        except ChannelError as error:
            found.append(("mqtt", str(error)))
        finally:
            mqtt.drop()
    if settings.webhook_url:
        found.append(("webhook", webhook_problem(settings.webhook_url)))
    return found


def webhook_problem(url: str) -> str | None:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    where = f"{parts.hostname}:{port}"
    try:
        with socket.create_connection((parts.hostname, port), timeout=TIMEOUT) as connection:
            if tls:
                with ssl.create_default_context().wrap_socket(connection, server_hostname=parts.hostname):
                    pass
    except OSError as error:
        return str(from_os_error("alerts.webhook_url", where, error, tls_hint="use an address with a certificate this device trusts"))
    return None
