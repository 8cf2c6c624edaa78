from __future__ import annotations

import os
import stat

import pytest

from assistant.config import (
    Settings,
    default_config_path,
    load_settings,
    save_settings,
    with_emergency,
)
from assistant.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_no_file():
    settings = load_settings()
    assert settings.language == "en"
    assert settings.emergency_numbers("en") == ("112",)
    assert settings.emergency_numbers("id") == ("112", "119")
    assert settings.audio.end_of_speech_silence == pytest.approx(1.2)


def test_file_in_xdg_config_folder_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    write(tmp_path / "calf-assistant" / "config.toml", 'language = "id"\n[emergency]\nen = ["911"]\n')
    settings = load_settings()
    assert settings.language == "id"
    assert settings.emergency_numbers("en") == ("911",)
    assert default_config_path() == tmp_path / "calf-assistant" / "config.toml"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('language = "fr"\n', "language must be one of"),
        ('langauge = "en"\n', "unknown setting 'langauge'"),
        ("[voice]\nrate = 9\n", "voice.rate must be between"),
        ('[voice]\nrate = "fast"\n', "voice.rate must be a number"),
        ('[emergency]\nen = ["call mum"]\n', "is not a phone number"),
        ("[emergency]\nen = []\n", "needs at least one emergency number"),
        ("this is not toml", "not valid TOML"),
        ("version = 99\n", "newer calf-assistant"),
    ],
)
def test_broken_settings_name_the_problem_in_one_line(tmp_path, text, fragment):
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert str(path) in message


def test_environment_overrides_file(tmp_path, monkeypatch):
    path = write(tmp_path / "config.toml", 'language = "id"\n')
    monkeypatch.setenv("CALF_ASSISTANT_LANG", "en")
    monkeypatch.setenv("CALF_ASSISTANT_EMERGENCY", "999")
    settings = load_settings(path)
    assert settings.language == "en"
    assert settings.emergency_numbers("en") == ("999",)
    assert settings.emergency_numbers("id") == ("999",)


def test_save_is_private_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    settings = with_emergency(Settings(language="id", mid_walk=True), "112,119", "id")
    save_settings(settings, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_settings(path, use_environment=False) == settings


def test_old_settings_file_is_migrated_not_reset(tmp_path):
    path = write(tmp_path / "config.toml", 'language = "id"\nemergency_number = "911"\n')
    settings = load_settings(path)
    assert settings.language == "id"
    assert settings.emergency_numbers("en") == ("911",)
