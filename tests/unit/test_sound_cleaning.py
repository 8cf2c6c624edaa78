"""Noise suppression and automatic gain (assistant/cleaning.py) with the real WebRTC processor, the
settings that turn them on, the microphone that applies them, and the fallback when they cannot
start. Whether cleaning helps a person be heard is measured on real speech in
tests/audio/test_listening_in_noise.py."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from assistant.cleaning import BLOCK, SoundCleaner, cleaner_for
from assistant.config import AudioSettings, Settings, load_settings
from assistant.devices import Microphone
from assistant.errors import ConfigError, DeviceError
from test_devices import FakeSoundDevice

RNG = np.random.default_rng(3)


def street(seconds: float) -> np.ndarray:
    """Steady broadband noise, as loud as a street heard from a pocket."""
    return RNG.normal(0, 1500, int(seconds * 16000)).clip(-32768, 32767).astype(np.int16)


def level_db(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9)


def test_steady_noise_comes_out_much_quieter():
    noise = street(4.0)
    cleaned = SoundCleaner(noise_suppression=3, auto_gain=0).clean_recording(noise)
    assert len(cleaned) == len(noise)
    # after the first second, in which the suppressor learns the noise
    assert level_db(cleaned[16000:]) < level_db(noise[16000:]) - 10


def test_blocks_of_any_size_give_the_same_sound_as_one_piece():
    noise = street(1.0)
    whole = SoundCleaner(2, 0).clean(noise)
    cleaner = SoundCleaner(2, 0)
    pieces = [cleaner.clean(noise[start:start + size]) for start, size in
              zip(np.cumsum([0, 1470, 1470, 1601, 99, 3]), (1470, 1470, 1601, 99, 3, 16000))]
    joined = np.concatenate(pieces)
    assert len(joined) == len(noise) - len(noise) % BLOCK
    assert np.array_equal(joined, whole)


def test_automatic_gain_raises_a_faint_voice():
    t = np.arange(32000) / 16000
    faint = (300 * np.sin(2 * np.pi * 200 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)
    louder = SoundCleaner(noise_suppression=0, auto_gain=3).clean_recording(faint)
    assert level_db(louder[16000:]) > level_db(faint[16000:]) + 6


@pytest.mark.parametrize("table, reason", [
    ("noise_suppression = 5", "audio.noise_suppression must be 0 (off) to 4 (strongest), not 5"),
    ("noise_suppression = -1", "audio.noise_suppression must be 0 (off) to 4 (strongest), not -1"),
    ("auto_gain = 32", "audio.auto_gain must be 0 (off) to 31"),
    ('auto_gain = "loud"', "audio.auto_gain"),
])
def test_a_wrong_level_is_one_line_naming_the_setting(tmp_path, table, reason):
    path = tmp_path / "settings.toml"
    path.write_text(f"[audio]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_levels_in_the_settings_reach_the_cleaner(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[audio]\nnoise_suppression = 2\nauto_gain = 10\n", encoding="utf-8")
    cleaner = cleaner_for(load_settings(path).audio)
    assert (cleaner.noise_suppression, cleaner.auto_gain) == (2, 10)


def test_both_off_means_no_cleaner():
    assert cleaner_for(AudioSettings(noise_suppression=0, auto_gain=0)) is None


def test_without_the_library_the_microphone_is_heard_as_it_is(monkeypatch):
    monkeypatch.setitem(sys.modules, "webrtc_noise_gain", None)  # import fails as if not installed
    notes = []
    assert cleaner_for(AudioSettings(noise_suppression=2), note=notes.append) is None
    assert len(notes) == 1 and "webrtc-noise-gain" in notes[0] and "heard as it is" in notes[0]


def test_the_microphone_hands_on_cleaned_blocks():
    backend = FakeSoundDevice()
    noise = street(2.0)
    with Microphone(sd=backend, cleaner=SoundCleaner(3, 0)) as microphone:
        stream = backend.streams[-1]
        heard = []
        for start in range(0, len(noise), 1600):
            stream.deliver(noise[start:start + 1600].reshape(-1, 1))
            heard.append(microphone.read(timeout=0.1))
    heard = np.concatenate(heard)
    assert len(heard) == len(noise)
    assert level_db(heard[16000:]) < level_db(noise[16000:]) - 10


def test_a_quiet_room_cleaned_to_silence_is_not_taken_for_an_unplugged_microphone():
    """The suppressor may turn a very quiet room into exact zeros; the microphone still sends sound,
    so only the sound before cleaning tells a dead device."""
    backend = FakeSoundDevice()
    microphone = Microphone(sd=backend, stall_seconds=5.0, dead_seconds=0.3, cleaner=SoundCleaner(4, 0)).open()
    stream = backend.streams[-1]
    blocks = microphone.blocks()
    room = RNG.normal(0, 2, (1600, 1)).astype(np.int16)
    for _ in range(6):
        stream.deliver(room)
        time.sleep(0.1)
        assert next(blocks) is not None
    with pytest.raises(DeviceError, match="only digital silence"):
        while True:
            stream.deliver(np.zeros((1600, 1), dtype=np.int16))
            time.sleep(0.05)
            next(blocks)
    microphone.close()


def test_by_default_the_sound_is_heard_as_it_is():
    """Suppression cost Indonesian answers in tests/audio/test_listening_in_noise.py (see
    docs/measurements.md), so it is for the caregiver to turn on."""
    audio = Settings().audio
    assert (audio.noise_suppression, audio.auto_gain) == (0, 0)
    assert cleaner_for(audio) is None
