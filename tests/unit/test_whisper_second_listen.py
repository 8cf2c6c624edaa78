"""When Whisper's answer with the domain prompt is unusable, the audio is decoded once more without it.

The decoder is scripted here (the real model's behaviour is covered in tests/audio); this checks which
of the two readings is kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from assistant.recognition import WhisperRecogniser

PROMPT = "Dokter, betis saya sering kram dan pegal kalau berjalan. Kaki saya juga kesemutan atau kebas."
SPEECH = (np.sin(np.linspace(0, 2000, 16000)) * 8000).astype(np.int16)


def scripted(with_prompt: str, without_prompt: str, confidence: float = 0.7) -> tuple[WhisperRecogniser, list]:
    recogniser = object.__new__(WhisperRecogniser)
    recogniser._prompt_text, recogniser._hints, recogniser._grammar = PROMPT, (), None
    recogniser._unsure_below = 0.5
    recogniser._alternatives, recogniser.wants_alternatives = 0, False
    calls: list = []

    def decode(audio, prompt):
        calls.append(prompt)
        return (with_prompt if prompt else without_prompt), confidence

    recogniser._decode = decode
    return recogniser, calls


@pytest.mark.parametrize(
    ("with_prompt", "without_prompt", "kept"),
    [
        # the decoder looping on the prompt: the plain reading is better
        ("kata-kata-kata-kata-kata", "ada bunyi di betis", "ada bunyi di betis"),
        # both loop: the reading that says more once its loops are cut, one of each word kept
        ("kata-kata-kata-kata-kata", "kaki kaki kaki kaki", "kata"),
        ("ada luka sebu-sebu-sebu-sebu", "ada luka semu-semu-semu jari menghitam", "ada luka semu jari menghitam"),
        # looping, and nothing heard without the prompt: the loop, collapsed, rather than nothing
        ("betis betis betis betis", "", "betis"),
        # the prompt read back: never kept, even if nothing else is heard
        ("betis saya sering kram dan pegal kalau berjalan", "", ""),
        ("betis saya sering kram dan pegal kalau berjalan", "kaki saya dingin", "kaki saya dingin"),
        # a short piece of the prompt that is all there is: read back when the plain listen hears
        # far more, else what the person said (the plain reading of a short phrase is often worse)
        ("kaki saya juga kesemutan", "barusan kaki sama tangan kanan saya mendadak lemas separuh badan",
         "barusan kaki sama tangan kanan saya mendadak lemas separuh badan"),
        ("betis saya sering kram", "metis saya sering gram", "betis saya sering kram"),
        # a run of words looped twice, and a whole reading said twice
        ("maksud saya jauh maksud saya jauh maksud saya", "betis saya pegal", "betis saya pegal"),
        ("kalo jalan kalo berdiri lama kalo jalan kalo berdiri lama", "", "kalo jalan kalo berdiri lama"),
        # an ordinary reading needs no second listen
        ("betis saya kram waktu jalan", "ignored", "betis saya kram waktu jalan"),
    ],
)
def test_which_reading_is_kept(with_prompt, without_prompt, kept):
    recogniser, calls = scripted(with_prompt, without_prompt)
    assert recogniser.transcribe(SPEECH).text == kept
    prompt_piece = with_prompt in PROMPT.lower().replace(",", "").replace(".", "")
    assert len(calls) == (1 if kept == with_prompt and not prompt_piece else 2)


@pytest.mark.parametrize(("confidence", "unsure"), [(0.3, True), (0.49, True), (0.5, False), (0.9, False)])
def test_a_doubtful_reading_is_marked_unsure(confidence, unsure):
    recogniser, _ = scripted("betis saya kram waktu jalan", "", confidence)
    transcript = recogniser.transcribe(SPEECH)
    assert transcript.text == "betis saya kram waktu jalan" and transcript.unsure is unsure


def test_an_answer_snapped_to_the_grammar_is_never_unsure():
    recogniser, _ = scripted("ya", "", 0.3)
    recogniser._grammar = ["ya", "tidak"]
    transcript = recogniser.transcribe(SPEECH)
    assert transcript.text == "ya" and not transcript.unsure


@pytest.mark.parametrize(
    ("text", "loops"),
    [
        ("kata-kata-kata-kata", True),
        ("cramp cramp cramp in my calf", True),
        ("kaki saya kaki saya kaki saya", True),
        ("maksud saya jauh maksud saya jauh", True),
        # doubles are ordinary speech
        ("tiba-tiba kaki saya dingin", False),
        ("pelan pelan saja", False),
        ("kaki saya kaki saya sakit", False),
    ],
)
def test_what_counts_as_the_decoder_looping(text, loops):
    recogniser, calls = scripted(text, "")
    heard = recogniser.transcribe(SPEECH).text
    assert (len(calls) == 2) is loops
    if loops:
        assert len(heard.split()) < len(text.replace("-", " ").split())
