"""doctor: every check passes on a healthy system, and each one fails on its own with a fix."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import cli, doctor
from assistant.config import ActivationSettings, AudioSettings, Settings
from assistant.errors import ConfigError, ModelError
from assistant.models import Check
from assistant.service import ServiceState, scope_for

GOOD_DEVICES = [
    {"name": "USB mic", "max_input_channels": 1, "max_output_channels": 0},
    {"name": "USB speaker", "max_input_channels": 0, "max_output_channels": 2},
]


def _service(installed=True, active=True, systemd=True):
    scope = scope_for(False)
    return ServiceState(installed, installed, active, systemd, scope.unit_path, scope)


@pytest.fixture
def healthy(monkeypatch):
    """Every probe answers like a well installed device."""
    monkeypatch.setattr(doctor, "_probe_which", lambda program: f"/usr/bin/{program}")
    monkeypatch.setattr(doctor, "_probe_espeak_voices", lambda: {"en-gb", "en-us", "id"})
    monkeypatch.setattr(doctor, "_probe_pyttsx3", lambda: 100)
    monkeypatch.setattr(doctor, "_probe_devices", lambda: list(GOOD_DEVICES))
    monkeypatch.setattr(doctor, "_probe_model", lambda name: Check(name, "ok", "matches"))
    monkeypatch.setattr(doctor, "_probe_voice", _hibari_profile)
    monkeypatch.setattr(doctor, "_probe_voice_model", lambda name: Check(name, "ok", "matches"))
    monkeypatch.setattr(doctor, "_probe_voice_speaks", lambda choice, profile: None)
    monkeypatch.setattr(doctor, "_probe_free_bytes", lambda folder: 10 * 1024**3)
    monkeypatch.setattr(doctor, "_probe_service", lambda: (_service(), _service(installed=False)))
    monkeypatch.setattr(doctor, "_probe_pulse", lambda: True)
    monkeypatch.setattr(doctor, "_probe_alsa_cards", lambda: True)
    monkeypatch.setattr(doctor, "_probe_mode", lambda path: 0o700)
    monkeypatch.setattr(doctor, "_probe_writable", lambda folder: True)
    monkeypatch.setattr(doctor, "_probe_wake_word", lambda activation: "Okay Nabu")
    monkeypatch.setattr(doctor, "_probe_voice_detector", lambda: None)
    monkeypatch.setattr(doctor, "_probe_cleaning", lambda audio: None)
    return monkeypatch


def _hibari_profile(language, settings):
    from assistant.synthesis.profile import load_voice
    from assistant.synthesis.voices import chosen

    profile = load_voice(language)
    choice = profile.choice("hibari") or profile.choice("piper")
    return profile, choice, doctor.voice_model_name(choice)


def _no_natural_voice(language, settings):
    from assistant.synthesis.profile import load_voice

    return load_voice(language), None, ""


def _raise(error):
    def probe(*args):
        raise error

    return probe


# (check name, probe, replacement, settings, words expected in the fix)
FAILURES = {
    "settings": ("settings", None, None, ConfigError("config.toml: voice.rate must be a number"), "calf-assistant setup"),
    "espeak missing": ("espeak-ng", "_probe_which", lambda program: None, Settings(), "apt-get install -y espeak-ng"),
    "espeak voice": ("espeak-ng", "_probe_espeak_voices", lambda: {"en-gb"}, Settings(language="id"), "espeak-ng-data"),
    "pyttsx3": ("speech engine", "_probe_pyttsx3", _raise(RuntimeError("no driver")), Settings(), "libespeak-ng1"),
    "no microphone": ("input device", "_probe_devices", lambda: [GOOD_DEVICES[1]], Settings(), "arecord -l"),
    "no speaker": ("output device", "_probe_devices", lambda: [GOOD_DEVICES[0]], Settings(), "aplay -l"),
    "model checksum": (
        "speech models",
        "_probe_model",
        lambda name: Check(name, "corrupt", "model.bin does not match its checksum; run: calf-assistant models prepare"),
        Settings(),
        "calf-assistant models prepare",
    ),
    "voice corrupt": (
        "voice",
        "_probe_voice_model",
        lambda name: Check(name, "corrupt", "hibari.onnx does not match its sha256; run: pip install --force-reinstall hibari-tts"),
        Settings(),
        "pip install --force-reinstall hibari-tts",
    ),
    "voice does not speak": ("voice", "_probe_voice_speaks", _raise(RuntimeError("onnxruntime: invalid model")), Settings(),
                             "pip install --force-reinstall hibari-tts"),
    "piper voice missing": (
        "voice",
        "_probe_voice_model",
        lambda name: Check(name, "missing", f"not installed; run: calf-assistant models download {name}"),
        Settings(language="id"),
        "calf-assistant models download piper-id_ID-news_tts-medium",
    ),
    "folder not private": ("private files", "_probe_mode", lambda path: 0o755, Settings(), "chmod"),
    "service stopped": ("service", "_probe_service", lambda: (_service(active=False), _service(installed=False)), Settings(), "restart"),
    "disk full": ("disk space", "_probe_free_bytes", lambda folder: 100 * 1024 * 1024, Settings(), "apt-get clean"),
    "no sound system": ("sound system", "_probe_pulse", lambda: False, Settings(), "pulseaudio --start"),
    "wake model broken": ("listening", "_probe_wake_word",
                          _raise(ModelError("the wake-word model hey.tflite is damaged (cut short)")),
                          Settings(activation=ActivationSettings(mode="wake", wake_model="/tmp/hey.tflite")), "wake_model"),
    "no silero": ("listening", "_probe_voice_detector", lambda: "the Silero voice detector cannot start (ImportError: x)",
                  Settings(), "./scripts/setup"),
    "no cleaner": ("listening", "_probe_cleaning",
                   lambda audio: "noise suppression and automatic gain need webrtc-noise-gain, which is not installed",
                   Settings(audio=AudioSettings(noise_suppression=2)), "./scripts/setup"),
}


def test_all_green_exits_zero(healthy, capsys):
    results = doctor.run_checks(Settings())
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert {r.name for r in results} >= {"settings", "espeak-ng", "speech engine", "input device", "output device",
                                          "speech models", "private files", "service", "disk space", "sound system"}
    assert doctor.doctor_command(type("Args", (), {"json": False})(), Settings()) == 0
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_check_fails_alone_with_a_fix(healthy, case, capsys):
    name, probe, replacement, settings, fix_words = FAILURES[case]
    if probe == "_probe_pulse":
        healthy.setattr(doctor, "_probe_alsa_cards", lambda: False)
    if probe:
        healthy.setattr(doctor, probe, replacement)
    results = doctor.run_checks(settings)
    failed = [r for r in results if not r.ok]
    assert [r.name for r in failed] == [name]
    assert fix_words in failed[0].fix
    assert doctor.doctor_command(type("Args", (), {"json": False})(), settings) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] {name}" in out and f"fix: {failed[0].fix}" in out


def test_without_hibari_english_is_spoken_by_espeak_with_a_warning(healthy):
    healthy.setattr(doctor, "_probe_voice", _no_natural_voice)
    voice = next(r for r in doctor.run_checks(Settings(language="en")) if r.name == "voice")
    assert voice.ok and voice.warning and "espeak-ng" in voice.detail and voice.fix == "./scripts/setup"
    indonesian = next(r for r in doctor.run_checks(Settings(language="id")) if r.name == "voice")
    assert indonesian.ok and not indonesian.warning and "models download piper-id_ID-news_tts-medium" in indonesian.detail


def test_service_not_installed_is_only_a_warning(healthy):
    healthy.setattr(doctor, "_probe_service", lambda: (_service(installed=False), _service(installed=False)))
    result = doctor.check_service(Settings())
    assert result.ok and result.warning and result.fix == "calf-assistant service install"


def test_a_settings_device_that_is_gone_fails(healthy):
    settings = replace(Settings(), audio=replace(Settings().audio, input_device="Blue Yeti"))
    result = doctor.check_input_device(settings)
    assert not result.ok and "Blue Yeti" in result.detail


def test_a_crashing_probe_does_not_hide_the_other_checks(healthy):
    healthy.setattr(doctor, "_probe_free_bytes", _raise(OSError("stale mount")))
    results = doctor.run_checks(Settings())
    assert len(results) == len(doctor.CHECKS)
    assert [r.name for r in results if not r.ok] == ["disk"]


def test_json_lists_every_check(healthy, capsys):
    code = cli.main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(checks) == len(doctor.CHECKS)
    for check in checks:
        assert {"name", "ok", "detail", "fix"} <= set(check)


def test_broken_settings_file_reaches_the_doctor(healthy, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('language = "fr"\n')
    code = cli.main(["--config", str(config), "doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert not checks["settings"]["ok"] and "language" in checks["settings"]["detail"]
    assert "calf-assistant setup" in checks["settings"]["fix"]


def test_doctor_changes_nothing_on_the_real_system(tmp_path):
    """Run for real (no probes replaced): it must finish and leave the settings file absent."""
    results = doctor.run_checks(Settings())
    assert len(results) == len(doctor.CHECKS)
    from assistant.config import default_config_path

    assert not Path(default_config_path()).exists()


def test_listening_names_the_wake_word_and_the_cleaning_when_they_start(healthy):
    settings = Settings(activation=ActivationSettings(mode="wake"), audio=AudioSettings(noise_suppression=2))
    listening = next(r for r in doctor.run_checks(settings) if r.name == "listening")
    assert listening.ok and '"Okay Nabu"' in listening.detail and "noise suppression 2" in listening.detail


def test_the_real_listening_probes_load_the_real_wake_word_silero_and_the_cleaner():
    settings = Settings(activation=ActivationSettings(mode="wake", wake_word="alexa"), audio=AudioSettings(noise_suppression=2))
    listening = doctor.check_listening(settings)
    assert listening.ok, listening.detail
    assert '"Alexa"' in listening.detail
