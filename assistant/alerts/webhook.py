"""The webhook channel: a POST of the alert's JSON, taken when the receiver answers 2xx.

The standard library's urllib is enough for one POST; the Title, Message, Priority and Tags
headers are the ones ntfy reads, so an ntfy topic shows a readable notification, and any other
receiver (a Home Assistant webhook, a script) reads the JSON body.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from email.header import Header
from urllib.parse import urlsplit

from assistant.alerts import message
from assistant.alerts.faults import ChannelError, from_os_error

SETTING = "alerts.webhook_url"
TIMEOUT = 10.0
"""Seconds for the whole request; a slow receiver holds up only this channel's thread."""

PRIORITY = {"emergency": "urgent", "urgent": "high", message.TEST: "default"}


def _header(text: str) -> str:
    # HTTP headers are Latin-1; RFC 2047 keeps other letters readable (ntfy decodes it).
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode()


class Webhook:
    name = "webhook"

    def __init__(self, url: str, timeout: float = TIMEOUT):
        self.url = url
        self.timeout = timeout
        parts = urlsplit(url)
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def send(self, payload: dict) -> None:
        """Returns once the receiver answered 2xx; raises ChannelError with the reason otherwise."""
        request = urllib.request.Request(
            self.url, data=message.encoded(payload), method="POST",
            headers={
                "Content-Type": "application/json",
                "Title": _header(message.title(payload)),
                "Message": _header(message.message(payload)),
                "Priority": PRIORITY.get(payload.get("level"), "high"),
                "Tags": "warning",
                "X-Alert-Id": payload["id"],
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read()
        except urllib.error.HTTPError as error:
            hint = "check the user or token in the address" if error.code in (401, 403) else "check the address"
            raise ChannelError(f"{SETTING}: the receiver answered {error.code} {error.reason}; {hint}") from None
        except (urllib.error.URLError, OSError, socket.timeout) as error:
            raise from_os_error(SETTING, self.where, error, tls_hint="use an address with a certificate this device trusts") from None

    def idle(self, seconds: float, wake) -> None:
        wake.wait(seconds)

    def close(self) -> None:
        pass
