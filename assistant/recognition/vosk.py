"""Vosk (Kaldi): streams as it is fed, and takes a runtime grammar for answers."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.recognition.interface import SAMPLE_RATE, Transcript

UNKNOWN = "[unk]"


@lru_cache(maxsize=None)
def _vosk_model(path: str):
    import vosk

    vosk.SetLogLevel(-1)
    try:
        return vosk.Model(path)
    except Exception as error:  # vosk raises a bare Exception when the files are unusable
        raise ModelError(f"{Path(path).name} could not be loaded ({error}); run: calf-assistant models verify") from None


def _vosk_confidence(result: dict) -> float:
    words = [w.get("conf", 0.0) for w in result.get("result", []) if w.get("word") != UNKNOWN]
    return float(sum(words) / len(words)) if words else 0.0


def _clean(text: str) -> str:
    return " ".join(word for word in text.split() if word != UNKNOWN)


class VoskRecogniser:
    """Streaming Kaldi recogniser; grammar mode builds a recogniser restricted to the phrases."""

    streams = True

    def __init__(self, model_dir: Path, language: str) -> None:
        self.language = language
        self._model = _vosk_model(str(model_dir))
        self._grammar: list[str] | None = None
        self._recognizer = self._new_recognizer()
        self._done: list[tuple[str, float]] = []

    def _new_recognizer(self):
        import vosk

        if self._grammar is None:
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        else:
            # Vosk reads the grammar as UTF-8 words; escaped JSON would never match its vocabulary.
            phrases = [*self._grammar, UNKNOWN] if self._model.vosk_model_find_word(UNKNOWN) >= 0 else self._grammar
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        recognizer.SetWords(True)
        return recognizer

    def accept(self, samples: np.ndarray) -> Transcript | None:
        data = np.asarray(samples, dtype=np.int16).tobytes()
        if self._recognizer.AcceptWaveform(data):
            # Vosk found a pause inside the utterance: keep that piece, the utterance goes on.
            result = json.loads(self._recognizer.Result())
            text = _clean(result.get("text", ""))
            if text:
                self._done.append((text, _vosk_confidence(result)))
            partial = ""
        else:
            partial = _clean(json.loads(self._recognizer.PartialResult()).get("partial", ""))
        text = " ".join([*(t for t, _ in self._done), partial]).strip()
        return Transcript(text, self._confidence(), False) if text else None

    def _confidence(self) -> float:
        return float(np.mean([c for _, c in self._done])) if self._done else 0.0

    def finish(self) -> Transcript:
        result = json.loads(self._recognizer.FinalResult())
        text = _clean(result.get("text", ""))
        if text:
            self._done.append((text, _vosk_confidence(result)))
        transcript = Transcript(" ".join(t for t, _ in self._done), self._confidence(), True)
        self.reset()
        return transcript

    def set_grammar(self, phrases: list[str] | None) -> None:
        self._grammar = [p.lower() for p in phrases] if phrases else None
        self._recognizer = self._new_recognizer()
        self._done = []

    def reset(self) -> None:
        self._recognizer.Reset()
        self._done = []

