"""Speech recognition: one small interface, an engine per module (vosk, whisper, wyoming), and
`listen`.

Every engine takes 16 kHz mono int16 samples (see assistant.audio) and gives a Transcript. Which
engine and model a language uses is data in voices/<lang>.toml; `recognition.engine = "wyoming"`
in the settings sends utterances to a service on a stronger machine, with the local engine as its
fallback. Models are loaded once per process and shared: loading Whisper base takes seconds on a
Raspberry Pi, far too slow per utterance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.errors import KnowledgeError
from assistant.recognition.interface import SAMPLE_RATE, Recogniser, Transcript, hear_whole, normalise_text
from assistant.recognition.profile import RecognitionProfile, load_profile
from assistant.recognition.vosk import VoskRecogniser
from assistant.recognition.whisper import WhisperRecogniser, whisper_recogniser

__all__ = [
    "SAMPLE_RATE", "RecognitionProfile", "Recogniser", "Transcript", "VoskRecogniser", "WhisperRecogniser",
    "detect_language", "listen_command", "load_local_recogniser", "load_profile", "load_recogniser",
    "normalise_text", "recognise", "recognise_any_language", "transcribe_file", "whisper_recogniser",
]


def _engine_for(profile: RecognitionProfile) -> str:
    from assistant import models

    if profile.engine == "auto":
        if profile.vosk_model and models.is_installed(profile.vosk_model):
            return "vosk"
        return "whisper"
    if profile.engine not in ("vosk", "whisper"):
        raise KnowledgeError(f"voices/{profile.language}.toml: engine must be auto, vosk or whisper")
    return profile.engine


def load_recogniser(language: str, settings=None) -> Recogniser:
    """A fresh recogniser for `language` on a shared, already loaded model; with
    recognition.engine = "wyoming" in the settings, the Wyoming service, this one as its fallback."""
    recognition = getattr(settings, "recognition", None)
    if recognition is not None and recognition.engine == "wyoming":
        from assistant.recognition.wyoming import WyomingRecogniser

        return WyomingRecogniser(recognition.uri, language, lambda: load_local_recogniser(language),
                                timeout=recognition.timeout)
    return load_local_recogniser(language)


def load_local_recogniser(language: str) -> Recogniser:
    """The engine and model voices/<lang>.toml names for this device."""
    from assistant import models

    profile = load_profile(language)
    if _engine_for(profile) == "vosk":
        if not profile.vosk_model:
            raise KnowledgeError(f"voices/{language}.toml: engine is vosk but no vosk_model is named")
        return VoskRecogniser(models.model_path(profile.vosk_model), language)
    if not profile.whisper_model:
        raise KnowledgeError(f"voices/{language}.toml: no whisper_model is named")
    return whisper_recogniser(profile)



def recognise(samples: np.ndarray, language: str, settings=None) -> Transcript:
    return hear_whole(load_recogniser(language, settings), samples)


_SURE_LANGUAGE = 0.5
"""Whisper's language probability above which its guess is taken without a second look."""
_CLEAR_LEAD = 2.0
"""...or how many times likelier than the other choice it must be, when all choices are unlikely."""


def _sure(scores: dict[str, float]) -> bool:
    first, second = sorted(scores.values(), reverse=True)[:2]
    return first >= _SURE_LANGUAGE or first >= _CLEAR_LEAD * second


def _language_scores(samples: np.ndarray, choices: tuple[str, ...]) -> dict[str, float]:
    from assistant import models

    for language in choices:
        name = load_profile(language).whisper_model
        if name and models.is_installed(name):
            scores = WhisperRecogniser(models.model_path(name), language).language_scores(samples, choices)
            if scores:
                return scores
    return {}


def recognise_any_language(
    samples: np.ndarray, settings=None, choices: tuple[str, ...] = ("en", "id"), scores: dict | None = None
) -> tuple[str, Transcript]:
    """For --lang auto: (language, transcript).

    Whisper's own guess is taken when it is sure, or clearly prefers one of the choices. Synthetic
    or accented speech can leave it unsure between English and Indonesian, so then the
    utterance is heard in each language and the transcript whose words belong to the language it
    was heard in wins; Whisper's guess only breaks a tie. Falls back to English (the default) when
    no multilingual model is installed.
    """
    from assistant.understanding import detect_language as language_of_text

    scores = _language_scores(samples, choices) if scores is None else scores
    if not scores:
        return choices[0], recognise(samples, choices[0], settings)
    best = max(choices, key=lambda code: scores[code])
    if _sure(scores):
        return best, recognise(samples, best, settings)
    heard = {code: recognise(samples, code, settings) for code in choices}
    consistent = [code for code in choices if heard[code].text and language_of_text(heard[code].text, code) == code]
    chosen = consistent[0] if len(consistent) == 1 else best
    return chosen, heard[chosen]


def detect_language(samples: np.ndarray, settings=None, choices: tuple[str, ...] = ("en", "id")) -> str:
    """The spoken language alone: cheap when Whisper is sure, else as recognise_any_language decides."""
    scores = _language_scores(samples, choices)
    if scores and _sure(scores):
        return max(choices, key=lambda code: scores[code])
    return recognise_any_language(samples, settings, choices, scores)[0]


def transcribe_file(path: str | Path, language: str, settings=None) -> Transcript:
    from assistant.audio import load_wav

    samples = load_wav(path)
    if language == "auto":
        return recognise_any_language(samples, settings)[1]
    return recognise(samples, language, settings)


# ---------------------------------------------------------------------------------------------
# the `listen` command


def listen_command(args, settings) -> int:
    from assistant.answer import answer_text
    from assistant.audio import load_wav

    samples = load_wav(args.wav)
    language = settings.language
    if language == "auto":
        language, transcript = recognise_any_language(samples, settings)
    else:
        transcript = recognise(samples, language, settings)
    answer = answer_text(transcript.text, language, settings)
    if args.json:
        payload = dict(answer.to_dict())
        payload["transcript"] = transcript.text
        payload["confidence"] = round(transcript.confidence, 2)
        payload["unsure"] = transcript.unsure
        print(json.dumps(payload, ensure_ascii=False), flush=True)
    else:
        print(answer.reply, flush=True)
    return 0
