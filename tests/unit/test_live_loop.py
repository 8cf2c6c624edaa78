"""The live loop's control flow with stand-ins for the devices and the recogniser."""

from __future__ import annotations

import io

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import DeviceError, InputError, ModelError, SynthesisError
from assistant.knowledge import load_knowledge
from assistant.live import (
    ACTIVATION_ENV,
    MAX_TURNS_ENV,
    EnterKey,
    Immediately,
    Mouth,
    SpokenLoop,
    make_activation,
    max_turns_from_env,
    typed_loop,
)
from assistant.recognition import Transcript
from fakes import FakeMicrophone, voice

pytestmark = pytest.mark.usefixtures("buzz_is_speech")

PACK = load_knowledge().pack("en")


class FakeEars:
    def __init__(self, text="my calf hurts", error=None):
        self.text, self.error, self.heard = text, error, []

    def hear(self, samples):
        self.heard.append(len(samples))
        if self.error:
            raise self.error
        return Transcript(self.text, 0.9, True)


def make_loop(microphone, ears=None, turns=1, handle=lambda text: f"reply to {text}", speak_error=None):
    said, sleeps = [], []

    def speak(text, language, settings):
        said.append((text, microphone.muted_now))
        if speak_error:
            raise speak_error

    out = io.StringIO()
    mouth = Mouth(Settings(), microphone, speak=speak, out=out)
    loop = SpokenLoop(Settings(), handle, ears or FakeEars(), microphone, mouth, Immediately(), max_turns=turns,
                      sleep=sleeps.append, listen_timeout=2.0)
    return loop, said, sleeps, out


def test_a_turn_hears_answers_and_speaks_with_the_microphone_muted():
    audio = np.concatenate([np.zeros(8000, np.int16), voice(1.0), np.zeros(32000, np.int16)])
    ears = FakeEars("my calf hurts")
    loop, said, _, out = make_loop(FakeMicrophone(audio), ears)
    assert loop.run() == 0
    assert said == [(PACK.reply("ready"), True), ("reply to my calf hurts", True)]
    assert out.getvalue().splitlines() == [PACK.reply("ready"), "reply to my calf hurts"]
    assert ears.heard and ears.heard[0] < len(audio), "only the utterance reaches the recogniser"


def test_nobody_speaking_gets_the_heard_nothing_reply():
    ears = FakeEars()
    loop, said, _, _ = make_loop(FakeMicrophone(), ears)
    loop.run()
    assert said[-1][0] == PACK.reply("heard_nothing") and not ears.heard


def test_an_empty_transcript_gets_the_heard_nothing_reply():
    loop, said, _, _ = make_loop(FakeMicrophone(voice(1.5)), FakeEars(""))
    loop.run()
    assert said[-1][0] == PACK.reply("heard_nothing")


def test_a_busy_microphone_is_retried_with_a_growing_pause(capsys):
    microphone = FakeMicrophone(voice(1.5), fail_opens=3)
    loop, said, sleeps, _ = make_loop(microphone)
    assert loop.run() == 0
    assert sleeps == [1.0, 2.0, 4.0] and microphone.opens == 4
    err = capsys.readouterr().err.splitlines()
    # one line for the outage, not one a retry; one more once it hears again
    assert len(err) == 2, err
    assert "Device unavailable" in err[0] and "trying again" in err[0] and "works again" in err[1]
    assert said[-1][0] == "reply to my calf hurts"


def test_an_unplugged_microphone_is_reported_reopened_and_the_loop_goes_on(capsys):
    microphone = FakeMicrophone(voice(1.5), fail_read=True)
    loop, said, _, _ = make_loop(microphone, turns=2)
    assert loop.run() == 0
    assert PACK.reply("device_error") in [text for text, _ in said]
    assert microphone.closes == 1 and microphone.opens == 2
    assert said[-1][0] == "reply to my calf hurts"
    assert "unplugged" in capsys.readouterr().err


@pytest.mark.parametrize("error", [ModelError("model 'whisper-base' is corrupt; fix: calf-assistant models prepare")])
def test_a_recogniser_error_is_one_line_and_the_loop_goes_on(capsys, error):
    loop, said, _, _ = make_loop(FakeMicrophone(voice(1.5)), FakeEars(error=error), turns=2)
    assert loop.run() == 0
    assert capsys.readouterr().err.count("whisper-base") == 2


def test_a_synthesis_error_still_shows_the_reply_and_keeps_going(capsys):
    loop, said, _, out = make_loop(FakeMicrophone(voice(1.5)), speak_error=SynthesisError("espeak-ng is not installed"))
    assert loop.run() == 0
    assert "reply to my calf hurts" in out.getvalue()
    assert "espeak-ng is not installed" in capsys.readouterr().err


def test_the_typed_loop_answers_each_line_and_survives_bad_input(capsys):
    def handle(text):
        if text == "bad":
            raise InputError("the text is mostly control characters")
        return f"reply to {text}"

    out = io.StringIO()
    assert typed_loop(handle, "en", io.StringIO("one\n\nbad\ntwo\n"), out) == 0
    assert out.getvalue().splitlines() == [PACK.reply("typed_prompt"), "reply to one", "reply to two"]
    assert "control characters" in capsys.readouterr().err


def test_enter_activation_and_its_end(monkeypatch):
    monkeypatch.delenv(ACTIVATION_ENV, raising=False)
    activation, key = make_activation(Settings(), io.StringIO("\n"))
    assert isinstance(activation, EnterKey) and key == "ready"
    assert activation.wait() is True and activation.wait() is False


def test_the_non_interactive_activation_and_turn_limit_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(ACTIVATION_ENV, "auto")
    activation, key = make_activation(Settings(), io.StringIO())
    assert isinstance(activation, Immediately)
    assert "Enter" not in PACK.reply(key), "nothing to press when it listens by itself"
    monkeypatch.setenv(MAX_TURNS_ENV, "2")
    assert max_turns_from_env() == 2
    monkeypatch.setenv(MAX_TURNS_ENV, "two")
    with pytest.raises(InputError):
        max_turns_from_env()


class StreamingEars:
    """Ears whose recogniser decodes as it is fed (Vosk-like): frames arrive during capture."""

    def __init__(self, text="my calf hurts"):
        self.text, self.fed, self.fed_at_end, self.phrases = text, 0, None, "unset"

    def start_hearing(self, phrases=None):
        self.phrases = phrases
        ears = self

        class Hearing:
            def feed(self, frame):
                ears.fed += len(frame)

            def result(self, samples):
                ears.fed_at_end = (ears.fed, len(samples))
                return Transcript(ears.text, 0.9, True)

        return Hearing()

    def hear(self, samples, phrases=None, danger=False):
        raise AssertionError("a streaming recogniser is fed during capture, not handed the utterance after")


def test_a_streaming_recogniser_is_fed_while_the_person_speaks():
    audio = np.concatenate([np.zeros(16000, dtype=np.int16), voice(1.5), np.zeros(16000 * 3, dtype=np.int16)])
    ears = StreamingEars()
    loop, said, _, _ = make_loop(FakeMicrophone(audio), ears)
    loop.run()
    fed, utterance = ears.fed_at_end
    # By the end of speech the recogniser had the whole utterance already, and neither the second
    # of quiet before it (beyond the pre-roll) nor what the microphone would have sent after.
    assert utterance <= fed < len(audio) - 16000
    assert ears.phrases is None
    assert said[-1][0] == "reply to my calf hurts"


def test_a_transcript_heard_unsure_goes_to_the_conversation_as_unsure():
    class UnsureEars(FakeEars):
        def hear(self, samples):
            self.heard.append(len(samples))
            return Transcript("betis saya sakit", 0.3, True, unsure=True)

    class Conversation:
        def __init__(self):
            self.calls = []

        def __call__(self, text):
            self.calls.append(("sure", text))
            return "reply"

        def heard_unsure(self, text):
            self.calls.append(("unsure", text))
            return "say it again"

    audio = np.concatenate([np.zeros(8000, np.int16), voice(1.0), np.zeros(32000, np.int16)])
    conversation = Conversation()
    loop, said, _, _ = make_loop(FakeMicrophone(audio), UnsureEars(), handle=conversation)
    loop.run()
    assert conversation.calls == [("unsure", "betis saya sakit")]
    assert said[-1][0] == "say it again"


def test_a_streamed_utterance_that_fits_no_expected_phrase_is_heard_again_freely(monkeypatch):
    """After a yes/no question Vosk listens for the answers only; a danger sign said instead must
    still be heard, so Hearing.result hears the whole utterance again without the grammar."""
    import assistant.recognition as recogniser_module
    from assistant.live import Ears

    class GrammarVosk:
        streams = True

        def __init__(self):
            self.grammar, self.fed = None, 0

        def set_grammar(self, phrases):
            self.grammar = phrases

        def reset(self):
            self.fed = 0

        def accept(self, samples):
            self.fed += len(samples)

        def finish(self):
            text = "" if self.grammar else "my leg is cold and pale"
            return Transcript(text, 0.9, True)

    vosk = GrammarVosk()
    monkeypatch.setattr(recogniser_module, "load_recogniser", lambda language, settings=None: vosk)
    ears = Ears(Settings(language="en"))
    hearing = ears.start_hearing(["yes", "no"])
    utterance = voice(1.0)
    hearing.feed(utterance)
    assert hearing.result(utterance).text == "my leg is cold and pale"
    assert vosk.grammar is None and vosk.fed == len(utterance)


class DeadMicrophone(FakeMicrophone):
    """Opens, then fails while reading for `outage` turns, like a microphone whose stream the
    sound server moved to a source of digital silence."""

    def __init__(self, outage):
        super().__init__(np.concatenate([np.zeros(8000, np.int16), voice(1.0), np.zeros(32000, np.int16)]))
        self.outage = outage

    def blocks(self):
        if self.outage:
            self.outage -= 1
            raise DeviceError("the microphone sends only digital silence")
        yield from super().blocks()


def test_a_microphone_outage_is_said_once_not_at_every_retry_and_its_end_noted(capsys):
    microphone = DeadMicrophone(outage=4)
    loop, said, _, _ = make_loop(microphone, turns=5)
    loop.run()
    spoken = [text for text, _ in said]
    assert spoken.count(PACK.reply("device_error")) == 1
    assert spoken[-1] == "reply to my calf hurts"
    assert microphone.opens == 5, "reopened after each failure"
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == 2 and "digital silence" in notes[0] and "works again" in notes[1], notes


class FlappingMicrophone(FakeMicrophone):
    """Missing, then found, then failing at the first read and missing again: one outage."""

    def __init__(self):
        super().__init__(voice(1.5))
        self.attempts, self.reads = 0, 0

    def open(self):
        self.attempts += 1
        if self.attempts in (1, 3):
            raise DeviceError("no microphone was found")
        super().open()

    def blocks(self):
        self.reads += 1
        if self.reads == 1:
            raise DeviceError("no microphone was found")
        yield from super().blocks()


def test_a_microphone_that_comes_and_goes_is_said_missing_once_until_it_works(capsys):
    loop, said, _, _ = make_loop(FlappingMicrophone(), turns=2)
    loop.run()
    notes = capsys.readouterr().err.splitlines()
    assert [note for note in notes if "trying again" in note] == [notes[0]], notes
    assert "works again" in notes[-1] and len(notes) == 2, notes
