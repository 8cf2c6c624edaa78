"""One line for each way a channel can fail: the setting to look at and what to change.

The same line goes to the log, to stderr of a running assistant (once, not at every retry), to
`doctor` and to `alerts test`, so the caregiver reads the same words wherever they look.
"""

from __future__ import annotations

import socket
import ssl

from assistant.errors import AssistantError


class ChannelError(AssistantError):
    """An alert channel did not take an alert; the message names the setting and the fix."""


def from_os_error(setting: str, where: str, error: BaseException, *, tls_hint: str) -> ChannelError:
    """A connection attempt's exception as the line the caregiver reads."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):  # urllib wraps the socket's error in URLError
        error = reason
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or str(error)
        return ChannelError(f"{setting}: the TLS certificate of {where} is not trusted ({detail}); {tls_hint}")
    if isinstance(error, ssl.SSLError):
        return ChannelError(f"{setting}: TLS with {where} failed ({error.reason or error}); "
                            "check that the port is the server's TLS port")
    if isinstance(error, socket.gaierror):
        host = where.rsplit(":", 1)[0]
        return ChannelError(f"{setting}: the host name '{host}' is not known; check the address")
    if isinstance(error, ConnectionRefusedError):
        return ChannelError(f"{setting}: nothing answers at {where}; is the server running, and is the port right?")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return ChannelError(f"{setting}: {where} did not answer in time; check the address and the network")
    if isinstance(error, OSError):
        return ChannelError(f"{setting}: cannot reach {where} ({error.strerror or error}); check the address and the network")
    return ChannelError(f"{setting}: {where} failed ({type(error).__name__}: {error})")
