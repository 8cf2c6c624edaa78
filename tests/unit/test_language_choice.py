"""--lang auto for recordings: Whisper's guess when it is clear, the transcripts' own words when not."""

from __future__ import annotations

import numpy as np

from assistant import recognition as recogniser
from assistant.recognition import Transcript, recognise_any_language

SAMPLES = np.zeros(16000, np.int16)


def heard_as(texts):
    return lambda samples, language, settings=None: Transcript(texts[language], 0.8, True)


def test_a_clear_guess_is_taken_and_heard_once(monkeypatch):
    calls = []
    monkeypatch.setattr(recogniser, "recognise", lambda s, lang, settings=None: calls.append(lang) or Transcript("x", 1, True))
    language, _ = recognise_any_language(SAMPLES, scores={"en": 0.01, "id": 0.04})
    assert language == "id" and calls == ["id"]


def test_an_unsure_guess_is_settled_by_the_words_heard(monkeypatch):
    texts = {"en": "my calf cramps when i walk", "id": "mai kaf kremps wen ai wok"}
    monkeypatch.setattr(recogniser, "recognise", heard_as(texts))
    language, transcript = recognise_any_language(SAMPLES, scores={"en": 0.30, "id": 0.25})
    assert language == "en" and transcript.text == texts["en"]


def test_no_multilingual_model_means_english(monkeypatch):
    monkeypatch.setattr(recogniser, "recognise", heard_as({"en": "hello", "id": "halo"}))
    assert recognise_any_language(SAMPLES, scores={})[0] == "en"
