"""Caregiver alerts end to end: `calf-assistant` processes, a real broker, a real receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import LineReader

RED_FLAG = "my calf hurts and I have chest pain and cannot breathe"
CALM = "my calf cramps at night after a long walk"
TOPIC = "calf-test"


def _config(tmp_path: Path, **alerts) -> Path:
    lines = ["[alerts]", f'mqtt_topic = "{TOPIC}"', "retry_max = 1.0"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in alerts.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _start(config: Path, *command: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "assistant", "--config", str(config), *command],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _chat(config: Path) -> tuple[subprocess.Popen, LineReader]:
    process = _start(config, "chat", "--json")
    reader = LineReader(process, timeout=60)
    json.loads(reader.line())  # the greeting
    return process, reader


def _until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _end(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.stdin.close()
        process.wait(timeout=20)
    return process.stderr.read().decode()


def _status(config: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "alerts", "status", "--json"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_red_flag_reaches_the_broker_and_the_webhook_within_two_seconds(tmp_path, broker, subscriber, receiver):
    carer = subscriber(f"{TOPIC}/alert")
    process, reader = _chat(_config(tmp_path, mqtt_uri=broker.uri, webhook_url=receiver.url))
    reader.send(RED_FLAG)
    turn = json.loads(reader.line())
    replied = time.monotonic()
    assert turn["triage"] == "emergency"
    assert _until(lambda: carer.on(f"{TOPIC}/alert") and receiver.posts, 2.0), "no alert within 2 s of the reply"
    alert = carer.on(f"{TOPIC}/alert")[0]
    assert alert["level"] == "emergency" and alert["event_type"] == "emergency"
    assert set(alert["red_flags"]) == set(turn["red_flags"])
    assert alert["advice"] == {"reply": "emergency_call", "emergency_numbers": ["112"]}
    assert alert["language"] == "en" and alert["late"] is False and "words" not in alert
    assert alert["time"][-6] in "+-"  # ISO 8601 with its zone
    post = receiver.posts[0]
    assert post["body"] == alert and post["at"] - replied < 2.0
    assert "112" in post["headers"]["Title"] and "pulmonary embolism" in post["headers"]["Message"]
    assert post["headers"]["Priority"] == "urgent"
    _end(process)
    assert len(carer.on(f"{TOPIC}/alert")) == 1 and len(receiver.posts) == 1
    assert _status(tmp_path / "config.toml") == []


def test_a_calm_conversation_sends_nothing(tmp_path, broker, subscriber, receiver):
    carer = subscriber(f"{TOPIC}/alert")
    process, reader = _chat(_config(tmp_path, mqtt_uri=broker.uri, webhook_url=receiver.url, include_words=True))
    reader.send(CALM)
    assert json.loads(reader.line())["triage"] not in ("urgent", "emergency")
    time.sleep(1.0)
    _end(process)
    assert carer.on(f"{TOPIC}/alert") == [] and receiver.posts == []


def test_the_broker_down_during_a_red_flag_gets_the_alert_exactly_once_when_back(tmp_path, broker, subscriber, receiver):
    carer = subscriber(f"{TOPIC}/alert")
    carer.client.loop_stop()  # away while the broker is down; its session keeps what comes meanwhile
    carer.client.disconnect()
    broker.stop()
    config = _config(tmp_path, mqtt_uri=broker.uri, include_words=True)
    process, reader = _chat(config)
    reader.send(RED_FLAG)
    assert json.loads(reader.line())["triage"] == "emergency"
    assert _until(lambda: any(row["tries"] for row in _status(config)), 10), "the alert was not tried"
    time.sleep(60.0)  # started again a minute later, as a broker restarted by hand would be; retry_max = 1 s
    # keeps the tries going meanwhile, so the wait after it stays short
    broker.start()
    back = subscriber(f"{TOPIC}/alert")
    assert _until(lambda: back.on(f"{TOPIC}/alert"), 5.0), "the alert did not arrive after the broker came back"
    time.sleep(1.5)  # time for a repeat to show, if there were one
    alerts = back.on(f"{TOPIC}/alert")
    assert len(alerts) == 1 and alerts[0]["words"] == [RED_FLAG]
    stderr = _end(process)
    assert stderr.count("nothing answers at 127.0.0.1") == 1, stderr  # one line, not one per try
    assert "mqtt works again" in stderr


def test_killed_right_after_the_emergency_reply_the_alert_arrives_at_the_next_start(tmp_path, broker, subscriber, receiver):
    carer = subscriber(f"{TOPIC}/alert")
    dead_webhook = receiver.url.rsplit(":", 1)[0] + ":9/none"
    config = _config(tmp_path, mqtt_uri=broker.uri.replace(str(broker.port), "9"), webhook_url=dead_webhook)
    process, reader = _chat(config)
    reader.send(RED_FLAG)
    assert json.loads(reader.line())["triage"] == "emergency"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    waiting = _status(config)
    assert {row["channel"] for row in waiting} == {"mqtt", "webhook"}
    config = _config(tmp_path, mqtt_uri=broker.uri, webhook_url=receiver.url)
    again, _ = _chat(config)
    assert _until(lambda: carer.on(f"{TOPIC}/alert") and receiver.posts, 10.0), "the kept alert did not go out"
    _end(again)
    assert carer.on(f"{TOPIC}/alert")[0]["id"] == waiting[0]["id"] == receiver.posts[0]["body"]["id"]
    assert _status(config) == []


def _alerts_test(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "alerts", "test"],
                          capture_output=True, text=True, timeout=60)


def test_alerts_test_says_each_channel_took_it_over_tls(tmp_path, broker, subscriber, receiver):
    carer = subscriber(f"{TOPIC}/alert")
    done = _alerts_test(_config(tmp_path, mqtt_uri=broker.tls_uri, mqtt_ca_file=str(broker.folder / "ca.crt"),
                                webhook_url=receiver.url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"mqtt: taken by localhost:{broker.tls_port}", f"webhook: taken by {receiver.url.split('/')[2]}"]
    assert _until(lambda: carer.on(f"{TOPIC}/alert"), 2.0) and carer.on(f"{TOPIC}/alert")[0]["level"] == "test"


def test_a_wrong_password_and_a_bad_certificate_give_one_line_each(tmp_path, broker):
    wrong = _alerts_test(_config(tmp_path, mqtt_uri=broker.uri.replace("s3cret", "wrong")))
    assert wrong.returncode == 1
    assert wrong.stdout.splitlines() == [
        f"mqtt: not taken: alerts.mqtt_uri: the broker at 127.0.0.1:{broker.port} refused the login (Not authorized); "
        "check the user name and password in the address"]
    untrusted = _alerts_test(_config(tmp_path, mqtt_uri=broker.tls_uri))
    assert untrusted.returncode == 1
    line, = untrusted.stdout.splitlines()
    assert line.startswith(f"mqtt: not taken: alerts.mqtt_uri: the TLS certificate of localhost:{broker.tls_port} is not trusted")
    assert "alerts.mqtt_ca_file" in line
    plain_to_tls = _alerts_test(_config(tmp_path, mqtt_uri=broker.tls_uri.replace("mqtts", "mqtt")))
    assert "use mqtts://" in plain_to_tls.stdout, plain_to_tls.stdout


def test_home_assistant_discovery_is_retained_valid_and_the_last_will_says_offline(tmp_path, broker, subscriber):
    config = _config(tmp_path, mqtt_uri=broker.uri)
    process = _start(config, "run", "--typed")
    reader = LineReader(process, timeout=60)
    reader.line()
    status = subscriber(f"{TOPIC}/status")
    assert _until(lambda: [p for t, p, *_ in status.messages] == [b"online"], 10.0)
    late = subscriber("homeassistant/#")  # subscribes after the announcement: only retained copies arrive
    assert _until(lambda: len(late.messages) == 2, 5.0)
    configs = {topic: (json.loads(payload), retained) for topic, payload, retained, _ in late.messages}
    node = TOPIC
    event, retained = configs[f"homeassistant/event/{node}/alert/config"]
    assert retained and event["state_topic"] == f"{TOPIC}/alert" and "emergency" in event["event_types"]
    assert event["unique_id"] and event["device"]["identifiers"] and event["availability_topic"] == f"{TOPIC}/status"
    sensor, retained = configs[f"homeassistant/binary_sensor/{node}/running/config"]
    assert retained and sensor["state_topic"] == f"{TOPIC}/status" and sensor["device_class"] == "running"
    assert (sensor["payload_on"], sensor["payload_off"]) == ("online", "offline")
    assert sensor["device"] == event["device"]
    os.kill(process.pid, signal.SIGKILL)  # no goodbye: the broker's last will must say it
    process.wait(timeout=10)
    assert _until(lambda: [p for t, p, *_ in status.messages][-1:] == [b"offline"], 80.0)


def test_doctor_names_the_refused_login_and_the_unreachable_webhook(tmp_path, broker):
    config = _config(tmp_path, mqtt_uri=broker.uri.replace("s3cret", "wrong"), webhook_url="http://127.0.0.1:9/x")
    done = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "doctor", "--json"],
                          capture_output=True, text=True, timeout=120)
    result, = [check for check in json.loads(done.stdout) if check["name"] == "caregiver alerts"]
    assert not result["ok"] and "refused the login" in result["detail"] and "\n" not in result["detail"]
    good = _config(tmp_path, mqtt_uri=broker.uri)
    done = subprocess.run([sys.executable, "-m", "assistant", "--config", str(good), "doctor", "--json"],
                          capture_output=True, text=True, timeout=120)
    result, = [check for check in json.loads(done.stdout) if check["name"] == "caregiver alerts"]
    assert result["ok"], result
