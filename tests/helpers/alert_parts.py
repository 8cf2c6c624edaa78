"""Real parts for the caregiver-alert tests: a Mosquitto broker and an HTTP receiver on 127.0.0.1.

The broker runs from the Debian package with a password file, a plain listener and a TLS
listener whose certificate (and its CA) is made by openssl for this test run; it is stopped by
its own pid. Persistence is on so a subscriber's session (and its queued QoS 1 messages)
survives the broker's restart, the way a real home broker keeps them.
"""

from __future__ import annotations

import http.server
import json
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

USER, PASSWORD = "carer", "s3cret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def _certificates(folder: Path) -> None:
    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=calf test CA",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.cnf", "-out", "server.crt")


class Broker:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.tls_port = free_port(), free_port()
        _certificates(folder)
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(folder / "passwords"), USER, PASSWORD], check=True,
                       capture_output=True)
        (folder / "data").mkdir()
        (folder / "mosquitto.conf").write_text(
            # Started as root it would switch to the mosquitto user, who cannot read the test's folder.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"per_listener_settings false\nallow_anonymous false\npassword_file {folder}/passwords\n"
            f"persistence true\npersistence_location {folder}/data/\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} 127.0.0.1\ncafile {folder}/ca.crt\ncertfile {folder}/server.crt\n"
            f"keyfile {folder}/server.key\n"
        )
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def uri(self) -> str:
        return f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @property
    def tls_uri(self) -> str:
        return f"mqtts://{USER}:{PASSWORD}@localhost:{self.tls_port}"

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=open(self.folder / "broker.log", "ab"))
        _wait_port(self.port)
        _wait_port(self.tls_port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # its own pid; SIGTERM saves the sessions
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def broker(tmp_path):
    server = Broker(tmp_path / "broker")
    try:
        yield server
    finally:
        server.stop()


class Subscriber:
    """A paho client with a lasting session: what it is sent while away is kept for it."""

    def __init__(self, port: int, topic: str):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"carer-{os.getpid()}", clean_session=False)
        self.client.username_pw_set(USER, PASSWORD)
        self.client.reconnect_delay_set(0.2, 0.5)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload, m.retain, time.monotonic()))
        self.client.connect("127.0.0.1", port, 10)
        self.client.loop_start()
        assert self.subscribed.wait(5), "the test subscriber could not subscribe"

    def on(self, topic: str) -> list[dict]:
        return [json.loads(payload) for name, payload, _retain, _when in self.messages if name == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber(broker):
    subscribers = []

    def make(topic: str = "#") -> Subscriber:
        subscribers.append(Subscriber(broker.port, topic))
        return subscribers[-1]

    yield make
    for each in subscribers:
        each.close()


class Receiver(http.server.ThreadingHTTPServer):
    """The webhook's other end: keeps each POST's headers, body and arrival time."""

    def __init__(self):
        self.posts: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append({"headers": dict(self.headers), "body": json.loads(body), "at": time.monotonic()})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/calf-topic"


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
