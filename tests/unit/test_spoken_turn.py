"""The one spoken turn the live loop and `chat --audio` share, with scripted ears (the real hearing
is tested on real speech in tests/audio)."""

from __future__ import annotations

import io
import json

import numpy as np

from assistant.chat import Conversation
from assistant.config import Settings
from assistant.knowledge import load_knowledge
from assistant.live import audio_chat, spoken_turn
from assistant.recognition import Transcript

EN = load_knowledge().pack("en")


class Ears:
    def __init__(self, transcripts):
        self.transcripts = list(transcripts)
        self.asked = []

    def hear(self, samples, phrases=None, fallback=True, danger=False):
        self.asked.append(phrases)
        return self.transcripts.pop(0)

    def keep_language(self, language):
        pass


def test_an_answer_the_hearing_cannot_tell_gets_the_question_again_and_records_nothing():
    conversation = Conversation(Settings(language="en"))
    ears = Ears([Transcript("my calf cramps when i walk", 0.9, True), Transcript("", 0.0, True, unsure=True)])
    _, asking = spoken_turn(ears, conversation, np.zeros(1600, np.int16), "en")
    before = conversation.state.findings
    heard, reply = spoken_turn(ears, conversation, np.zeros(1600, np.int16), "en")
    assert heard.text == "" and ears.asked[1] and "yes" in ears.asked[1]
    again = EN.reply("answer_unclear")
    # The same question again, after saying it was not caught.
    assert reply.startswith(again) and asking.endswith(reply[len(again):].strip())
    assert conversation.turn.expect == "yes_no" and conversation.state.findings == before


def test_nothing_heard_says_so_without_moving_the_conversation():
    conversation = Conversation(Settings(language="en"))
    _, reply = spoken_turn(Ears([Transcript("", 0.0, True)]), conversation, np.zeros(1600, np.int16), "en")
    assert reply == EN.reply("heard_nothing") and conversation.state.heard == ()


def test_chat_audio_answers_every_line_and_a_missing_file_gets_a_reply_object(tmp_path, capsys):
    import wave

    good = tmp_path / "turn.wav"
    with wave.open(str(good), "wb") as file:
        file.setnchannels(1), file.setsampwidth(2), file.setframerate(16000)
        file.writeframes(np.zeros(16000, np.int16).tobytes())
    conversation = Conversation(Settings(language="en"))
    out = io.StringIO()
    stream = io.BytesIO(f"{good}\n{tmp_path / 'gone.wav'}\n".encode())
    audio_chat(conversation, Ears([Transcript("my calf cramps when i walk", 0.9, True)]), stream, out)
    told, missing = [json.loads(line) for line in out.getvalue().splitlines()]
    assert told["transcript"] == "my calf cramps when i walk" and told["expect"] == "yes_no"
    assert missing["transcript"] == "" and missing["reply"] == EN.reply("recording_unreadable")
    assert "gone.wav" in capsys.readouterr().err


def test_answers_the_hearing_cannot_tell_end_kindly_instead_of_looping():
    """Counted like any unclear answer: after two re-asks the conversation ends, naming the open
    danger sign, and the diary keeps the turns."""
    from assistant import diary

    conversation = Conversation(Settings(language="en"))
    unclear = Transcript("", 0.0, True, unsure=True)
    ears = Ears([Transcript("my calf cramps when i walk", 0.9, True), unclear, unclear, unclear])
    replies = [spoken_turn(ears, conversation, np.zeros(1600, np.int16), "en")[1] for _ in range(4)]
    assert replies[1].startswith(EN.reply("answer_unclear")) and replies[2].startswith(EN.reply("answer_unclear"))
    assert replies[3].startswith(EN.reply("unclear_end")) and conversation.turn.done
    assert EN.screens["clot_signs"].if_unsure.text in replies[3]
    [entry] = diary.load()
    assert len(entry.heard) == 4 and entry.heard[1] == "[unclear answer]"


def test_on_a_danger_screen_a_free_listen_that_is_a_bare_no_is_asked_again(monkeypatch):
    """The model found none of the expected phrases in the audio; a free listen that then says
    just "nggak" is a guess, and a guessed no would deny a danger sign."""
    from assistant import closed_set
    from assistant.live import Ears
    from assistant.recognition import Transcript

    class Model:
        language = "id"

        def hear_answer(self, samples, classes, danger=False):
            return closed_set.Choice(closed_set.FREE, free_text="betul")

    ears = object.__new__(Ears)  # no model loaded: the decision after the scoring is under test
    monkeypatch.setattr(ears, "_decode", lambda recogniser, samples, phrases: Transcript(heard[0], 0.8, True), raising=False)
    heard = ["nggak"]
    silence = np.zeros(16000, np.int16)
    assert ears._hear_answer(Model(), silence, ["iya", "tidak"], "id", danger=True).text == ""
    assert ears._hear_answer(Model(), silence, ["iya", "tidak"], "id").text == "nggak"  # a cause question
    heard[0] = "sesak napas"  # a danger sign said instead of an answer is still heard
    assert ears._hear_answer(Model(), silence, ["iya", "tidak"], "id", danger=True).text == "sesak napas"


def test_chat_audio_without_json_prints_the_reply_text(tmp_path, monkeypatch, capsys):
    """`chat --audio` is read by a person unless --json asks for objects, as the typed chat is."""
    import argparse
    import sys
    import wave

    from assistant import chat, live

    good = tmp_path / "turn.wav"
    with wave.open(str(good), "wb") as file:
        file.setnchannels(1), file.setsampwidth(2), file.setframerate(16000)
        file.writeframes(np.zeros(16000, np.int16).tobytes())
    monkeypatch.setattr(live, "Ears", lambda settings: Ears([Transcript("my calf cramps when i walk", 0.9, True)]))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{good}\n".encode())))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    args = argparse.Namespace(json=False, audio=True, config=None)
    assert chat.chat_command(args, Settings(language="en")) == 0
    greeting, reply = capsys.readouterr().out.splitlines()
    assert greeting == EN.reply("greeting") and not reply.startswith("{") and "?" in reply
