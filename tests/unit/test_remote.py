"""The Wyoming recogniser's fallback and back-off, with a closed port and a stand-in local engine
(the real service is tested in tests/audio/test_remote_recognition.py)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from assistant.config import from_table
from assistant.errors import ConfigError
from assistant.recognition import Transcript
from assistant.recognition.wyoming import WyomingRecogniser
from assistant.wyoming_link import FIRST_BACK_OFF


class Local:
    def __init__(self):
        self.heard = 0

    def reset(self):
        pass

    def accept(self, samples):
        pass

    def finish(self):
        self.heard += 1
        return Transcript("my calf cramps", 0.9, True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_service_is_skipped_for_a_growing_while(capsys):
    now = [0.0]
    local = Local()
    remote = WyomingRecogniser(f"tcp://127.0.0.1:{closed_port()}", "en", lambda: local, timeout=2, clock=lambda: now[0])
    samples = np.zeros(1600, np.int16)
    assert remote.transcribe(samples).text == "my calf cramps"
    assert capsys.readouterr().err.count("\n") == 1
    now[0] = FIRST_BACK_OFF / 2
    remote.transcribe(samples)  # within the back-off: straight to the local engine, no new line
    assert capsys.readouterr().err == "" and local.heard == 2
    now[0] = FIRST_BACK_OFF + 1
    remote.transcribe(samples)  # tried again, failed again: the wait doubles
    assert "in 60 s" in capsys.readouterr().err and local.heard == 3


@pytest.mark.parametrize(
    ("table", "fragment"),
    [({"recognition": {"engine": "cloud"}}, "recognition.engine"),
     ({"recognition": {"engine": "wyoming", "uri": "http://x"}}, "recognition.uri")],
)
def test_bad_recognition_settings_name_the_key(table, fragment):
    with pytest.raises(ConfigError, match=fragment):
        from_table(table)
