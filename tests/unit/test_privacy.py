"""Privacy: no network while running, a private rotating log without symptom text, private files."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import logs

REPO = Path(__file__).resolve().parents[2]
NO_NETWORK = REPO / "tests" / "helpers" / "no_network"
SYMPTOM = "my calf cramps when I walk uphill"
CONVERSATION = [SYMPTOM, "no", "no", "no", "no", "stop"]


def _env(homes: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(homes / "config"),
        XDG_DATA_HOME=str(homes / "data"),
        XDG_STATE_HOME=str(homes / "state"),
        PYTHONPATH=str(NO_NETWORK),
        CALF_NETWORK_LOG=str(homes / "network.log"),
        **extra,
    )
    return env


def _chat(homes: Path, prefix: list[str] = (), **extra: str) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "assistant", "chat", "--json", "--lang", "en"]
    return subprocess.run(command, input="\n".join(CONVERSATION) + "\n", capture_output=True, text=True,
                          env=_env(homes, **extra), timeout=120)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_network_guard_really_blocks(tmp_path):
    probe = (
        "import socket\n"
        "for attempt in (lambda: socket.getaddrinfo('example.org', 80),\n"
        "                lambda: socket.socket().connect(('127.0.0.1', 9))):\n"
        "    try:\n        attempt()\n    except OSError as error:\n        print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert result.stdout.count("blocked by the test") == 2, result.stdout + result.stderr
    attempts = (tmp_path / "network.log").read_text()
    assert "socket.getaddrinfo" in attempts and "socket.connect" in attempts


def test_a_full_conversation_opens_no_network_connection(tmp_path):
    result = _chat(tmp_path)
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 1 + len(CONVERSATION)
    assert any(turn["done"] for turn in turns)
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
    # Where we may (root with util-linux), also prove it with no network namespace at all.
    if os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        isolated = _chat(tmp_path / "netns", prefix=["unshare", "-n"])
        assert isolated.returncode == 0, isolated.stderr
        assert [json.loads(line)["reply"] for line in isolated.stdout.splitlines()] == [t["reply"] for t in turns]


def test_logs_settings_and_diary_are_private_and_hold_no_symptom_text(tmp_path):
    result = _chat(tmp_path)
    assert result.returncode == 0, result.stderr
    log_file = tmp_path / "state" / "calf-assistant" / "calf-assistant.log"
    assert log_file.is_file()
    assert _mode(log_file) == 0o600 and _mode(log_file.parent) == 0o700
    assert "cramps" not in log_file.read_text() and "uphill" not in log_file.read_text()
    for folder in (tmp_path / "data" / "calf-assistant", tmp_path / "state" / "calf-assistant"):
        for path in [folder, *folder.rglob("*")]:
            expected = 0o700 if path.is_dir() else 0o600
            assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}, want {oct(expected)}"


def test_symptom_text_only_with_debug(_private_homes):
    logs.setup_logging(debug=False)
    assert SYMPTOM not in logs.symptom_text(SYMPTOM)
    logs.setup_logging(debug=True)
    assert SYMPTOM in logs.symptom_text(SYMPTOM)
    logs.setup_logging(debug=False)


def test_log_rotates_and_every_file_stays_private(_private_homes, monkeypatch):
    path = logs.setup_logging()
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logs._PrivateRotatingHandler))
    monkeypatch.setattr(handler, "maxBytes", 2000)
    for number in range(200):
        logging.getLogger("test").info("line %d %s", number, "x" * 40)
    rotated = sorted(path.parent.glob(path.name + "*"))
    assert len(rotated) == logs.BACKUPS + 1
    assert all(_mode(p) == 0o600 for p in rotated)
    assert _mode(path.parent) == 0o700


def test_setting_up_the_log_twice_adds_one_handler(_private_homes):
    logs.setup_logging()
    logs.setup_logging()
    assert sum(isinstance(h, logs._PrivateRotatingHandler) for h in logging.getLogger().handlers) == 1


def test_world_readable_folders_are_tightened(_private_homes):
    data = _private_homes / "data" / "calf-assistant"
    (data / "models").mkdir(parents=True)
    data.chmod(0o755)
    logs.tighten_existing_folders()
    assert _mode(data) == 0o700


@pytest.mark.parametrize("command", [["ask", "my calf hurts"], ["doctor", "--json"], ["models", "list"]])
def test_commands_other_than_download_and_setup_stay_offline(tmp_path, command):
    result = subprocess.run([sys.executable, "-m", "assistant", *command], capture_output=True, text=True,
                            env=_env(tmp_path), timeout=120)
    assert result.returncode in (0, 1), result.stderr
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
