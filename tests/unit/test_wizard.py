"""The setup wizard: scripted with flags, driven through a terminal, re-run, interrupted, upgraded."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pexpect
import pytest

from assistant.config import SETTINGS_VERSION, load_settings

SCRIPTED = ["--non-interactive", "--lang", "id", "--emergency", "112,119", "--rate", "0.8", "--volume", "0.9",
            "--activation", "wake", "--wake-phrase", "halo betis", "--no-speech", "--skip-audio-test"]


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    """One prepared models folder for the module: preparing joins a 145 MB file."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def env(_private_homes, models_folder):
    environment = dict(os.environ)
    environment["CALF_ASSISTANT_MODELS"] = str(models_folder)
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "helpers" / "no_network")
    environment["CALF_NETWORK_LOG"] = str(_private_homes / "network.log")
    return environment


def _config(home: Path) -> Path:
    return home / "config" / "calf-assistant" / "config.toml"


def _setup(env, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", "setup", *flags], capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_scripted_setup_writes_private_settings_and_says_where(env, _private_homes):
    result = _setup(env, *SCRIPTED)
    assert result.returncode == 0, result.stdout + result.stderr
    config = _config(_private_homes)
    assert config.is_file()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert str(config) in result.stdout and "Pengaturan disimpan" in result.stdout  # said in Indonesian
    table = tomllib.loads(config.read_text())
    assert table["language"] == "id" and table["version"] == SETTINGS_VERSION
    assert table["emergency"]["id"] == ["112", "119"]
    assert table["voice"] == {"rate": 0.8, "volume": 0.9, "engine": ""}
    assert table["activation"]["mode"] == "wake" and table["activation"]["wake_phrase"] == "halo betis"
    assert "whisper-base" in result.stdout  # the Indonesian model was installed and verified
    assert "betis saya kram" in result.stdout  # the test conversation ran
    # The models were prepared from installed packages: setup needed no network here.
    assert not (_private_homes / "network.log").exists()


def test_rerun_keeps_the_previous_answers(env, _private_homes):
    assert _setup(env, *SCRIPTED).returncode == 0
    first = _config(_private_homes).read_text()
    result = _setup(env, "--non-interactive", "--no-speech", "--skip-models", "--skip-test-conversation")
    assert result.returncode == 0, result.stderr
    assert _config(_private_homes).read_text() == first


def test_an_impossible_answer_changes_nothing(env, _private_homes):
    assert _setup(env, *SCRIPTED).returncode == 0
    before = _config(_private_homes).read_text()
    result = _setup(env, "--non-interactive", "--no-speech", "--skip-models", "--emergency", "call-me")
    assert result.returncode == 2 and "not a phone number" in result.stderr
    assert _config(_private_homes).read_text() == before


def test_version_0_settings_are_migrated_not_reset(env, _private_homes):
    config = _config(_private_homes)
    config.parent.mkdir(parents=True)
    config.write_text('language = "en"\nemergency_number = "911"\nmid_walk = true\n')
    assert load_settings(config).emergency.en == ("911",)  # read as before, without writing
    result = _setup(env, "--non-interactive", "--no-speech", "--skip-models", "--skip-test-conversation")
    assert result.returncode == 0, result.stderr
    table = tomllib.loads(config.read_text())
    assert table["version"] == SETTINGS_VERSION
    assert table["emergency"]["en"] == ["911"] and table["mid_walk"] is True
    assert "emergency_number" not in table


def test_settings_from_a_newer_version_are_explained_and_kept(env, _private_homes):
    config = _config(_private_homes)
    config.parent.mkdir(parents=True)
    newer = f'version = {SETTINGS_VERSION + 1}\nlanguage = "id"\nfuture_option = 3\n'
    config.write_text(newer)
    result = _setup(env, "--non-interactive", "--no-speech", "--skip-models")
    assert result.returncode == 2
    assert "newer calf-assistant" in result.stderr and "upgrade" in result.stderr
    assert config.read_text() == newer
    ask = subprocess.run([sys.executable, "-m", "assistant", "ask", "my calf hurts"], capture_output=True, text=True, env=env, timeout=120)
    # ask still answers (on the defaults) and says why, without touching the newer file
    assert ask.returncode == 0 and "newer calf-assistant" in ask.stderr and "default settings" in ask.stderr
    assert config.read_text() == newer


def test_a_broken_settings_file_is_kept_aside(env, _private_homes):
    config = _config(_private_homes)
    config.parent.mkdir(parents=True)
    config.write_text("language = [oops\n")
    result = _setup(env, "--non-interactive", "--no-speech", "--skip-models", "--skip-test-conversation")
    assert result.returncode == 0, result.stderr
    kept = list(config.parent.glob("config.toml.broken-*"))
    assert len(kept) == 1 and kept[0].read_text() == "language = [oops\n"
    assert tomllib.loads(config.read_text())["version"] == SETTINGS_VERSION


def test_diary_stays_in_the_data_folder_across_upgrades(_private_homes):
    """The diary's place does not depend on the package version or install folder."""
    from assistant import diary
    from assistant.config import data_home

    assert diary.diary_path().parent == data_home()
    assert str(_private_homes) in str(diary.diary_path())


def _spawn(env, *flags: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "assistant", "setup", *flags], env=env, encoding="utf-8", timeout=120)
    child.logfile_read = sys.stdout
    return child


def test_interactive_setup_through_a_terminal(env, _private_homes):
    child = _spawn(env, "--skip-audio-test", "--input-device", "", "--output-device", "")
    child.expect_exact("en / id / auto [en]:")
    child.sendline("id")
    child.expect_exact("1 / 2 / 3 [2]:")  # speed
    child.sendline("1")
    child.expect_exact("rate = 0.9")
    child.expect_exact("1 / 2 / 3 [2]:")
    child.sendline("")
    child.expect_exact("1 / 2 / 3 [2]:")  # loudness
    child.sendline("")
    child.expect_exact("emergency number(s) (id) [112,119]:")
    child.sendline("112, 119, 118")
    child.expect_exact("enter / button / wake [enter]:")
    child.sendline("button")
    child.expect_exact("alerts: MQTT address:")
    child.sendline("mqtt://carer:pw@127.0.0.1:1883")
    child.expect_exact("alerts: web address:")
    child.sendline("ftp://nope")
    child.expect_exact("alerts.webhook_url must be an http:// or https:// address")
    child.expect_exact("alerts: web address:")
    child.sendline("")
    child.expect_exact("speech models")
    child.expect_exact("> ")  # the test conversation
    child.sendline("betis saya kram kalau berjalan")
    child.expect_exact("> ")
    child.sendline("tidak")
    child.expect_exact("Pengaturan disimpan di")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    settings = load_settings(_config(_private_homes))
    assert settings.language == "id" and settings.voice.rate == 0.9
    assert settings.emergency.id == ("112", "119", "118") and settings.activation.mode == "button"
    assert settings.alerts.mqtt_uri == "mqtt://carer:pw@127.0.0.1:1883" and settings.alerts.webhook_url == ""


def test_ctrl_c_leaves_the_previous_settings_untouched(env, _private_homes):
    assert _setup(env, *SCRIPTED).returncode == 0
    before = _config(_private_homes).read_bytes()
    child = _spawn(env, "--no-speech", "--skip-audio-test")
    child.expect_exact("en / id / auto [id]:")  # the saved answer is the default
    child.sendline("en")
    child.expect_exact("1 / 2 / 3 [2]:")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus is not None
    assert _config(_private_homes).read_bytes() == before
    assert not list(_config(_private_homes).parent.glob(".config-*"))  # no half-written temporary file
