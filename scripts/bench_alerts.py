"""`scripts/bench --alerts`: the time from a red flag's reply to the broker's delivery of its alert.

A real mosquitto on 127.0.0.1 and a free port, a subscriber beside it, and one `chat --json`
given the same red flag N times (each emergency reply ends a conversation, so each raises its own
alert). Measured: the reply line read by this script to the alert received by the subscriber,
so the figure includes the courier's wake-up, the outbox read, PUBLISH, PUBACK and the broker's
forwarding, but not the recognition or the voice.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RED_FLAG = "my calf hurts and I have chest pain and cannot breathe"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 10
    if not shutil.which("mosquitto"):
        print("bench: mosquitto is needed (CALF_SETUP_EXTRAS=...,test ./scripts/setup installs it)", file=sys.stderr)
        return 2
    import paho.mqtt.client as mqtt

    with tempfile.TemporaryDirectory(prefix="calf-bench-alerts-") as temporary:
        folder = Path(temporary)
        port = _free_port()
        (folder / "mosquitto.conf").write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\nallow_anonymous true\n"
                                               f"listener {port} 127.0.0.1\n")
        broker = subprocess.Popen(["mosquitto", "-c", str(folder / "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            arrived: list[float] = []
            ready = threading.Event()
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            client.on_connect = lambda c, *_: c.subscribe("bench/alert", qos=1)
            client.on_subscribe = lambda *_: ready.set()
            client.on_message = lambda *_: arrived.append(time.monotonic())
            client.connect("127.0.0.1", port)
            client.loop_start()
            ready.wait(5)
            (folder / "config.toml").write_text(f'[alerts]\nmqtt_uri = "mqtt://127.0.0.1:{port}"\nmqtt_topic = "bench"\n')
            environment = {**os.environ, "XDG_DATA_HOME": str(folder / "data"), "XDG_STATE_HOME": str(folder / "state")}
            chat = subprocess.Popen([sys.executable, "-m", "assistant", "--config", str(folder / "config.toml"), "chat", "--json"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env=environment, text=True)
            chat.stdout.readline()
            times = []
            for _ in range(count):
                before = len(arrived)
                chat.stdin.write(RED_FLAG + "\n")
                chat.stdin.flush()
                assert json.loads(chat.stdout.readline())["triage"] == "emergency"
                replied = time.monotonic()
                deadline = replied + 10
                while len(arrived) == before and time.monotonic() < deadline:
                    time.sleep(0.001)
                if len(arrived) > before:
                    times.append(arrived[before] - replied)
            chat.stdin.close()
            chat.wait(timeout=30)
            client.loop_stop()
        finally:
            os.kill(broker.pid, signal.SIGTERM)
            broker.wait(timeout=10)
    if not times:
        print("bench: no alert arrived", file=sys.stderr)
        return 1
    print("## Caregiver alert: red flag's reply to the broker's delivery\n")
    print("| alerts | median ms | max ms |\n|---|---|---|")
    print(f"| {len(times)} of {count} | {statistics.median(times) * 1000:.1f} | {max(times) * 1000:.1f} |")
    return 0 if len(times) == count else 1
