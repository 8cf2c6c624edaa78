"""The conversation inside the live loop, and the activations, with stand-ins for the hardware."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from assistant.activation import PushToTalk, WakePhrase, heard_wake_phrase, wake_phrases
from assistant.chat import Conversation, conversation_turns
from assistant.config import Settings, VoiceSettings
from assistant.errors import DeviceError
from assistant.knowledge import load_knowledge
from assistant.live import Ears, Immediately, Mouth, SpokenLoop
from assistant.matching import listening_phrases
from assistant.recognition import Transcript
from fakes import FakeMicrophone, voice

pytestmark = pytest.mark.usefixtures("buzz_is_speech")

KNOWLEDGE = load_knowledge()
EN = KNOWLEDGE.pack("en")


def Microphone():
    """Each listening turn hears one short burst of voice, then quiet."""
    return FakeMicrophone(np.concatenate([np.zeros(4000, np.int16), voice(1.0), np.zeros(32000, np.int16)]))


class ScriptedEars:
    """Says each scripted line in turn and records the grammar it was asked to listen with."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.grammars = []
        self.languages = []

    def hear(self, samples, phrases=None, fallback=True, danger=False):
        self.grammars.append(phrases)
        return Transcript(self.lines.pop(0), 0.9, True)

    def keep_language(self, language):
        self.languages.append(language)


def spoken_loop(lines, settings=None, turns=None):
    settings = settings or Settings()
    spoken = []

    def speak(text, language, voice_settings):
        spoken.append((text, language, voice_settings.voice, microphone.muted_now))

    microphone = Microphone()
    conversation = Conversation(settings)
    ears = ScriptedEars(lines)
    loop = SpokenLoop(settings, conversation, ears, microphone, Mouth(settings, microphone, speak=speak,
                      out=io.StringIO()), Immediately(), max_turns=turns or len(lines), listen_timeout=2.0)
    return loop, conversation, ears, spoken


def test_a_spoken_yes_answers_the_question_heard_with_a_yes_no_grammar():
    loop, conversation, ears, spoken = spoken_loop(["my calf cramps when I walk", "yes"])
    assert loop.run() == 0
    # Free speech first, then the yes/no grammar with the commands in it.
    assert ears.grammars[0] is None
    assert ears.grammars[1] == listening_phrases(EN)
    assert {"yes", "no", "repeat"} <= set(ears.grammars[1])
    question = spoken[1][0]
    first_asked = conversation.state.asked[0]
    assert question.endswith(EN.question_text(first_asked))
    # The spoken "yes" counted as the answer to the question that was heard.
    assert load_knowledge().rules.asked_finding(first_asked) in conversation.state.findings.present
    assert len(spoken) == 3
    assert all(muted for *_, muted in spoken), "the assistant never hears itself"


def test_slower_changes_the_voice_of_the_next_sentences(tmp_path):
    loop, conversation, _, spoken = spoken_loop(["my calf cramps when I walk", "slower"])
    loop.run()
    assert spoken[1][2] == VoiceSettings() and spoken[2][2].rate < 1.0
    assert spoken[2][0].startswith(EN.reply("slower_ack"))


def test_the_conversation_settles_the_language_for_the_ears():
    loop, _, ears, spoken = spoken_loop(["betis saya kram kalau jalan"], Settings(language="auto"))
    loop.run()
    assert ears.languages == ["id"] and spoken[-1][1] == "id"


def test_a_danger_sign_instead_of_yes_or_no_is_heard_freely():
    class Recogniser:
        def __init__(self):
            self.grammar, self.grammars = None, []

        def set_grammar(self, phrases):
            self.grammar = phrases
            self.grammars.append(phrases)

        def reset(self):
            pass

        def accept(self, samples):
            return None

        def finish(self):
            # Under the grammar the sentence fits nothing; freely it is understood.
            return Transcript("" if self.grammar else "my chest hurts", 0.8, True)

    recogniser = Recogniser()
    ears = Ears.__new__(Ears)
    ears._settings, ears._fixed, ears._grammars = Settings(), "en", {}
    ears._recognisers = {"en": recogniser}
    heard = ears.hear(voice(1.0), ["yes", "no"])
    assert heard.text == "my chest hurts" and recogniser.grammars == [["yes", "no"], None]
    assert ears.hear(voice(1.0), ["yes", "no"], fallback=False).text == ""


def test_conversation_turns_is_the_live_turn_function():
    turn = conversation_turns(Settings())
    assert isinstance(turn, Conversation) and turn.greeting == EN.reply("greeting")
    assert turn.listening_phrases() is None
    turn("my calf cramps when I walk")
    assert turn.expect == "yes_no" and "yes" in turn.listening_phrases()


# ---- activation ---------------------------------------------------------------------------------


class FakeButton:
    def __init__(self, pin):
        self.pin, self.when_pressed, self.closed = pin, None, False

    def close(self):
        self.closed = True


def test_a_button_press_activates_and_end_of_input_does_not_stop_a_button_box():
    made = []

    def factory(pin):
        made.append(FakeButton(pin))
        return made[-1]

    activation = PushToTalk(io.StringIO(""), 17, button_factory=factory)
    assert activation.has_button and made[0].pin == 17
    threading.Timer(0.1, made[0].when_pressed).start()
    assert activation.wait() is True
    activation.close()
    assert made[0].closed


def test_enter_still_works_beside_the_button_and_without_it(capsys):
    def broken(pin):
        raise RuntimeError("no GPIO chip")

    activation = PushToTalk(io.StringIO("\n"), 17, button_factory=broken)
    assert not activation.has_button
    assert activation.wait() is True and activation.wait() is False
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GPIO 17" in err and "Enter" in err


def test_wake_phrase_defaults_in_both_languages_and_matching():
    phrases = wake_phrases("")
    assert {p for p in phrases} == {KNOWLEDGE.pack(code).reply("wake_phrase_default") for code in ("en", "id")}
    assert wake_phrases("Halo, Betis!") == ["halo betis"]
    assert heard_wake_phrase("Hello assistant.", phrases)
    assert heard_wake_phrase("halo asistan", phrases)
    assert not heard_wake_phrase("my calf hurts", phrases) and not heard_wake_phrase("", phrases)


def test_wake_phrase_ignores_other_words_and_survives_a_device_error(capsys):
    heard = iter(["", "the kettle", DeviceError("the microphone stopped sending sound"), "hello assistant"])
    recovered = []

    def listen(phrases):
        item = next(heard)
        if isinstance(item, Exception):
            raise item
        return item

    activation = WakePhrase(["hello assistant"], listen, lambda: recovered.append(True), sleep=lambda s: None)
    assert activation.wait() is True
    assert recovered == [True] and "stopped sending sound" in capsys.readouterr().err


def test_the_loop_says_how_to_wake_it_and_answers_after_waking():
    loop, _, ears, spoken = spoken_loop(["my calf cramps when I walk"])
    loop.listen_for = lambda phrases: "hello assistant"
    loop.wake_up(["hello assistant"])
    loop.run()
    texts = [text for text, *_ in spoken]
    assert texts[0] == EN.reply("ready_wake", wake_phrase="hello assistant")
    assert texts[1] == EN.reply("wake_prompt") and texts[2].startswith(EN.reply("screen_intro"))


@pytest.mark.parametrize("mode", ["enter", "button", "wake"])
def test_settings_choose_the_activation(mode, monkeypatch):
    from dataclasses import replace

    from assistant.config import ActivationSettings
    from assistant.live import ACTIVATION_ENV, EnterKey, make_activation

    monkeypatch.delenv(ACTIVATION_ENV, raising=False)
    settings = replace(Settings(), activation=ActivationSettings(mode=mode, gpio_pin=4))
    activation, key = make_activation(settings, io.StringIO(""))
    assert key == ("ready_button" if mode == "button" else "ready")
    assert isinstance(activation, PushToTalk if mode == "button" else EnterKey)
