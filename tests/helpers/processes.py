"""What several tests do with a real `calf-assistant` process or service: read its output one line
at a time with a deadline, and wait until a server listens."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import time


class LineReader:
    """A process's standard output, one line at a time, each within a deadline (proves flushing)."""

    def __init__(self, process: subprocess.Popen, timeout: float):
        self.process = process
        self.timeout = timeout
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def line(self) -> bytes:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buffer:
            if not self.selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"no line within {self.timeout} s")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the process ended early: {_stderr_tail(self.process)}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def send(self, text: str) -> None:
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()


def _stderr_tail(process: subprocess.Popen) -> str:
    """The end of what it wrote to stderr, when that is a pipe this test can read (a test that
    sent it to a file reads the file itself)."""
    if process.stderr is None:
        return f"exit code {process.poll()}; its stderr was not a pipe"
    text = process.stderr.read()
    return (text.decode(errors="replace") if isinstance(text, bytes) else text)[-2000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"the server ended: {_stderr_tail(process)}")
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")
