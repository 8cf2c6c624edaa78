"""Wake-word settings, loading and the activation that waits for it.

The engines load their real TensorFlow Lite models here (they are inside the wheels); only the
microphone is a stand-in, in the activation's own logic tests. Spoken wake words are heard for
real in tests/audio/test_wake.py.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.activation import WakeWord
from assistant.config import ActivationSettings, Settings, validate
from assistant.errors import ConfigError, DeviceError, ModelError
from assistant.wake import BUILT_IN, detection_times, load_engine, spoken_form


def _activation(**values) -> ActivationSettings:
    return replace(ActivationSettings(mode="wake"), **values)


def test_the_default_is_okay_nabu_on_the_micro_engine():
    activation = Settings().activation
    assert (activation.wake_engine, activation.wake_word, activation.wake_model) == ("micro", "okay_nabu", "")
    assert load_engine(activation).spoken == "Okay Nabu"


@pytest.mark.parametrize("engine", ["micro", "open"])
def test_every_built_in_wake_word_loads_and_hears_nothing_in_silence(engine):
    for word in BUILT_IN[engine]:
        listener = load_engine(_activation(wake_engine=engine, wake_word=word))
        assert listener.spoken == spoken_form(word)
        assert detection_times(listener, np.zeros(16000 * 3, dtype=np.int16)) == []


@pytest.mark.parametrize(("values", "fragment"), [
    ({"wake_engine": "snowboy"}, "activation.wake_engine must be one of micro, open, phrase"),
    ({"wake_word": "hey_rhasspy"}, "activation.wake_word must be one of okay_nabu"),
    ({"wake_engine": "open", "wake_word": "hello_calf"}, "hey_rhasspy"),
])
def test_wrong_wake_settings_are_named_in_one_line(values, fragment):
    settings = replace(Settings(), activation=_activation(**values))
    with pytest.raises(ConfigError) as raised:
        validate(settings, "config.toml")
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_hey_rhasspy_is_open_only_and_a_custom_model_is_any_name():
    validate(replace(Settings(), activation=_activation(wake_engine="open", wake_word="hey_rhasspy")), "here")
    validate(replace(Settings(), activation=_activation(wake_word="hallo_kaki", wake_model="/models/hallo_kaki.json")), "here")
    validate(replace(Settings(), activation=_activation(wake_engine="phrase", wake_word="anything")), "here")


def test_broken_custom_models_give_one_line_and_never_crash(tmp_path):
    """TensorFlow Lite would end the process on a damaged model: each is refused before it loads."""
    from pymicro_wakeword import microwakeword

    real = microwakeword._MODELS_DIR / "okay_nabu.tflite"
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model at all")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(real.read_bytes()[:3000])
    good_json = {"model": "cut.tflite", "wake_word": "Hallo Kaki",
                 "micro": {"probability_cutoff": 0.9, "sliding_window_size": 5}}
    (tmp_path / "cut.json").write_text(json.dumps(good_json), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{ not json", encoding="utf-8")
    (tmp_path / "short.json").write_text(json.dumps({"model": "x.tflite"}), encoding="utf-8")
    cases = [
        ("open", garbage, "not a TensorFlow Lite model"),
        ("open", cut, "not a TensorFlow Lite model"),
        ("open", tmp_path / "absent.tflite", "is missing"),
        ("open", tmp_path / "cut.json", "is the model's .tflite"),
        ("micro", tmp_path / "cut.json", "not a TensorFlow Lite model"),
        ("micro", tmp_path / "broken.json", "cannot be read"),
        ("micro", tmp_path / "short.json", "probability_cutoff"),
        ("micro", tmp_path / "absent.json", "is missing"),
        ("micro", garbage, "is the model's .json"),
    ]
    for engine, path, fragment in cases:
        with pytest.raises(ModelError) as raised:
            load_engine(_activation(wake_engine=engine, wake_model=str(path)))
        assert fragment in str(raised.value) and "\n" not in str(raised.value), (engine, path, raised.value)


def test_a_custom_model_loads_from_its_json(tmp_path):
    from pymicro_wakeword import microwakeword

    (tmp_path / "kaki.tflite").write_bytes((microwakeword._MODELS_DIR / "hey_jarvis.tflite").read_bytes())
    (tmp_path / "kaki.json").write_text(json.dumps({"model": "kaki.tflite", "wake_word": "Hallo Kaki",
                                                    "micro": {"probability_cutoff": 0.97, "sliding_window_size": 5}}))
    assert load_engine(_activation(wake_model=str(tmp_path / "kaki.json"))).spoken == "Hallo Kaki"
    assert load_engine(_activation(wake_engine="open", wake_model=str(tmp_path / "kaki.tflite"))).spoken == "Kaki"


class _Listener:
    spoken = "Okay Nabu"

    def __init__(self, wake_at: int):
        self.wake_at, self.fed, self.resets = wake_at, 0, 0

    def hears(self, block) -> bool:
        self.fed += 1
        return self.fed == self.wake_at

    def reset(self) -> None:
        self.resets += 1


def test_the_wake_word_chimes_once_and_survives_an_unplugged_microphone(capsys):
    listener = _Listener(wake_at=5)
    streams = iter([[np.zeros(1600, dtype=np.int16)] * 2, DeviceError("the microphone stopped sending sound"),
                    [np.zeros(1600, dtype=np.int16)] * 10])

    def blocks():
        item = next(streams)
        if isinstance(item, Exception):
            raise item
        yield from item

    flushed, chimes, recovered = [], [], []
    activation = WakeWord(listener, blocks, lambda: flushed.append(1), lambda: chimes.append(1),
                          lambda: recovered.append(1), sleep=lambda s: None)
    assert activation.wait() is True
    assert chimes == [1] and recovered == [1] and listener.fed == 5
    assert len(flushed) == listener.resets == 3  # each listening starts afresh, without the last reply's sound
    assert "stopped sending sound" in capsys.readouterr().err


def test_a_wake_model_that_cannot_load_falls_back_to_the_wake_phrase(tmp_path, capsys):
    from assistant.live import _wake_engine

    settings = replace(Settings(), activation=_activation(wake_model=str(tmp_path / "gone.json")))
    assert _wake_engine(settings) is None
    err = capsys.readouterr().err
    assert "gone.json is missing" in err and "wake phrase with the recogniser instead" in err
    assert _wake_engine(replace(settings, activation=_activation(wake_engine="phrase"))) is None
    assert _wake_engine(Settings()).spoken == "Okay Nabu"


def test_the_loop_says_the_wake_word_and_answers_after_it():
    from assistant.knowledge import load_knowledge
    from test_live_conversation import spoken_loop

    english = load_knowledge().pack("en")
    loop, _, _, spoken = spoken_loop(["my calf cramps when I walk"])
    loop.microphone.blocks = lambda: iter([np.zeros(1600, dtype=np.int16)] * 3)
    loop.microphone.flush = lambda: None
    loop.mouth.chime = lambda: spoken.append(("<chime>",))
    loop.wake_on_word(_Listener(wake_at=2))
    loop.run()
    texts = [text for text, *_ in spoken]
    assert texts[0] == english.reply("ready_wake", wake_phrase="Okay Nabu")
    assert texts[1] == "<chime>" and texts[2] == english.reply("wake_prompt")


def test_the_chime_is_short_rising_and_never_clips():
    from assistant.live import CHIME_RATE, chime_samples

    tone = chime_samples(1.0)
    assert 0.2 <= len(tone) / CHIME_RATE <= 0.3
    assert np.abs(tone).max() < 32767 * 0.4 and abs(int(tone[0])) < 200 and abs(int(tone[-1])) < 200
    assert np.abs(chime_samples(0.5)).max() < np.abs(tone).max()


def test_setup_chooses_a_wake_word_or_a_phrase_of_ones_own(tmp_path, monkeypatch):
    from assistant.wizard import Options, step_activation

    quiet = SimpleNamespace(interactive=False)
    chosen = step_activation(Settings(), Options(activation="wake", wake_word="hey_jarvis"), quiet).activation
    assert (chosen.mode, chosen.wake_engine, chosen.wake_word) == ("wake", "micro", "hey_jarvis")
    chosen = step_activation(Settings(), Options(activation="wake", wake_phrase="halo betis"), quiet).activation
    assert (chosen.wake_engine, chosen.wake_phrase) == ("phrase", "halo betis")

    class Asked:
        interactive = True

        def __init__(self, answer):
            self.answer, self.told = answer, []

        def tell(self, key, **values):
            self.told.append(key)

        def ask(self, prompt, default):
            return self.answer

    for answer, expected in (("alexa", ("micro", "alexa", "")), ("Hey Jarvis", ("micro", "hey_jarvis", "")), ("halo kaki", ("phrase", "okay_nabu", "halo kaki"))):
        console = Asked(answer)
        chosen = step_activation(Settings(), Options(activation="wake"), console).activation
        assert (chosen.wake_engine, chosen.wake_word, chosen.wake_phrase) == expected
        assert console.told == ["wizard_wake_word"]
