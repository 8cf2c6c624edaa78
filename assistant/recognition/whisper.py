"""faster-whisper (CTranslate2): hears an utterance whole, with a domain prompt, and hears
answers by scoring the expected phrases against the audio (assistant.closed_set)."""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.recognition.interface import SAMPLE_RATE, Transcript, is_silent, normalise_text
from assistant.recognition.profile import RecognitionProfile

log = logging.getLogger(__name__)

# Whisper's own rule for a segment without speech (both must hold), as in the reference decoder.
_NO_SPEECH_PROB = 0.6
_NO_SPEECH_LOGPROB = -1.0
# Segments this unsure are nearly always invented text (the "Thank you." of noise).
_MIN_LOGPROB = -1.2
_MAX_COMPRESSION = 2.4
_GRAMMAR_CUTOFF = 70
# A prompt written as a sentence counts as read back when this many of its words come in its order.
_ECHO_RUN = 6
# One word this many times in a row is the decoder looping.
_STUTTER = 3


def _cpu_threads() -> int:
    # Pi-class boxes have 4 cores; leave one for audio capture and the rest of the assistant.
    cores = os.cpu_count() or 1
    return max(1, min(4, cores if cores <= 2 else cores - 1))


_whisper_lock = threading.Lock()


# Encoder outputs kept per model: one utterance is encoded again by a plain second listen after a
# prompted one, by language detection before its transcript, and whenever the same audio is heard
# again (the n-best reads the audio without the VAD filter, so it shares only when the filter kept
# all of it). The same features give the same output, so those passes are served from here. A
# spoken conversation of the tests (tests/audio/test_spoken_conversations.py, tuning, en) asked for
# 83 encoder passes of 44 different inputs. An entry is 1500 frames of the model's width (3 MB for
# Whisper base).
_KEPT_ENCODINGS = 4


class _EncodeOnce:
    """The CTranslate2 Whisper model, with `encode` answered from the last few inputs it saw."""

    def __init__(self, model) -> None:
        self._model = model
        self._kept: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, features, to_cpu: bool = False):
        array = np.asarray(features)
        key = hashlib.blake2b(str(array.shape).encode() + array.tobytes(), digest_size=16).digest()
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        # On the CPU, to_cpu changes nothing, so both callers share the entry.
        encoded = self._model.encode(features, to_cpu=to_cpu)
        with self._lock:
            self._kept[key] = encoded
            while len(self._kept) > _KEPT_ENCODINGS:
                self._kept.popitem(last=False)
        return encoded

    def __getattr__(self, name: str):
        return getattr(self._model, name)


@lru_cache(maxsize=None)
def _whisper_model(path: str):
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=_cpu_threads())
    except Exception as error:  # CTranslate2 raises RuntimeError/ValueError on damaged files
        raise ModelError(f"{Path(path).name} could not be loaded ({error}); run: calf-assistant models verify") from None
    model.model = _EncodeOnce(model.model)
    return model


def _keep_segment(segment) -> bool:
    if segment.no_speech_prob > _NO_SPEECH_PROB and segment.avg_logprob < _NO_SPEECH_LOGPROB:
        return False
    if segment.avg_logprob < _MIN_LOGPROB or segment.compression_ratio > _MAX_COMPRESSION:
        return False
    return bool(segment.text.strip())


def _stutters(text: str) -> bool:
    """True when the decoder looped: a word or two said _STUTTER times in a row ("kata-kata-kata",
    "cramp cramp cramp"), or a longer run of words twice ("maksud saya jauh maksud saya jauh").
    Doubles like "tiba-tiba" or "pelan pelan" are ordinary speech and stay."""
    words = text.replace("-", " ").split()
    return any(_loop_at(words, start)[0] for start in range(len(words)))


def _loop_at(words: list[str], start: int) -> tuple[int, int]:
    """(copies, size) of the shortest piece looped from `start`; (0, 0) when none is."""
    for size in range(1, (len(words) - start) // 2 + 1):
        piece, copies = words[start : start + size], 1
        while words[start + copies * size : start + (copies + 1) * size] == piece:
            copies += 1
        if copies >= (_STUTTER if size <= 2 else 2):
            return copies, size
    return 0, 0


def _word_count(text: str) -> int:
    return len(_collapse_repeats(text).split())


def _collapse_repeats(text: str) -> str:
    """One copy of each loop, the rest kept as heard."""
    words = text.replace("-", " ").split()
    kept: list[str] = []
    index = 0
    while index < len(words):
        copies, size = _loop_at(words, index)
        if copies:
            kept.extend(words[index : index + size])
            index += copies * size
        else:
            kept.append(words[index])
            index += 1
    return " ".join(kept)


class WhisperRecogniser:
    """Whisper listens to a whole utterance at once, so partial results are not offered."""

    streams = False

    def __init__(self, model_dir: Path, language: str, *, whisper_language: str = "", beam_size: int = 5,
                 hints: tuple[str, ...] = (), prompt: str = "", unsure_below: float = 0.0,
                 options: dict | None = None, answer_share: float = 0.8, answer_no_fit: float | None = None,
                 answer_no_share: float | None = None,
                 written_forms: dict | None = None, alternatives: int = 0) -> None:
        self.language = language
        self._model = _whisper_model(str(model_dir))
        self._whisper_language = whisper_language or language
        self._beam_size = beam_size
        self._hints = hints
        self._prompt_text = prompt
        self._unsure_below = unsure_below
        self._options = dict(options or {})
        self._answer_share = answer_share
        self._answer_no_fit = answer_no_fit
        self._answer_no_share = answer_no_share
        self._written = dict(written_forms or {})
        self._alternatives = alternatives
        self.wants_alternatives = False
        """Set by a conversation: free transcripts then carry Whisper's other readings."""
        self._grammar: list[str] | None = None
        self._chunks: list[np.ndarray] = []

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def accept(self, samples: np.ndarray) -> Transcript | None:
        self._chunks.append(np.asarray(samples, dtype=np.int16).copy())
        return None

    def _prompt(self) -> str | None:
        if self._grammar:
            return ", ".join(self._grammar) + "."
        if self._prompt_text:
            return self._prompt_text
        return (", ".join(self._hints) + ".") if self._hints else None

    def _decode(self, audio: np.ndarray, prompt: str | None) -> tuple[str, float]:
        with _whisper_lock:  # one CTranslate2 model is not meant to decode two utterances at once
            options = dict(vad_filter=True, condition_on_previous_text=False, without_timestamps=True,
                           temperature=0.0)
            options.update(self._options)
            segments, _ = self._model.transcribe(
                audio,
                language=self._whisper_language if self.multilingual else None,
                beam_size=self._beam_size,
                initial_prompt=prompt,
                **options,
            )
            kept = [segment for segment in segments if _keep_segment(segment)]
        text = normalise_text(" ".join(segment.text for segment in kept))
        if not text:
            return "", 0.0
        return text, float(np.mean([math.exp(s.avg_logprob) * (1.0 - s.no_speech_prob) for s in kept]))

    def _echoes_prompt(self, text: str) -> bool:
        """True when the text reads the prompt back rather than the audio.

        On unclear audio Whisper sometimes copies its prompt. For a list of hint words that shows as
        three of them in the list's own order; for a prompt written as a sentence, as a run of
        _ECHO_RUN of its words in order, longer than the phrases people share with it by chance
        ("betis saya kram kalau jalan" is five words of the Indonesian prompt and a common start).
        """
        padded = f" {text} "
        if self._prompt_text:
            return self._prompt_run(text) >= _ECHO_RUN
        items = [normalise_text(item) for item in self._hints]
        return any(f" {' '.join(items[k : k + 3])} " in padded for k in range(len(items) - 2))

    def _prompt_run(self, text: str) -> int:
        """The longest run of the prompt's words, in its order, in the text."""
        prompt, heard = normalise_text(self._prompt_text).split(), text.split()
        matcher = difflib.SequenceMatcher(a=prompt, b=heard, autojunk=False)
        return matcher.find_longest_match(0, len(prompt), 0, len(heard)).size

    def _may_echo_prompt(self, text: str) -> bool:
        """All there is is a few words of the prompt ("kaki saya juga kesemutan"): the person may
        have said just that ("my calf cramps"), or Whisper read the prompt back over speech it
        could not make out."""
        words = len(text.split())
        return bool(self._prompt_text) and 3 <= words and self._prompt_run(text) >= words - 1

    def transcribe(self, samples: np.ndarray) -> Transcript:
        samples = np.asarray(samples, dtype=np.int16)
        if is_silent(samples):
            return Transcript("", 0.0, True)
        audio = samples.astype(np.float32) / 32768.0
        prompt = self._prompt()
        text, confidence = self._decode(audio, prompt)
        # A prompt can make Whisper read it back, or imitate its list style until the compression
        # filter drops everything; either way the audio deserves a plain second listen.
        if prompt and not self._grammar and (not text or self._echoes_prompt(text)):
            log.debug("no usable text with the domain prompt; decoding again without it")
            text, confidence = self._decode(audio, None)
        elif prompt and not self._grammar and self._may_echo_prompt(text):
            # A plain listen tells the two apart: a read-back misses most of what was said, so the
            # plain reading then holds far more words. Otherwise the prompted reading is kept (a
            # plain "my calf cramps" is often "my curved ramp").
            plain, plain_confidence = self._decode(audio, None)
            if _word_count(plain) >= 2 * _word_count(text):
                log.debug("a piece of the domain prompt read back; keeping the plain reading")
                text, confidence = plain, plain_confidence
        elif prompt and not self._grammar and _stutters(text):
            # The prompt can also push the decoder into a loop ("kata-kata-kata-kata") over audio
            # it cannot read.
            log.debug("the decoder looped with the domain prompt; decoding again without it")
            plain, plain_confidence = self._decode(audio, None)
            # A loop eats the rest of the utterance, so if both loop, the reading that still says
            # more once its loops are cut has heard more of it.
            if plain and (not _stutters(plain) or _word_count(plain) > _word_count(text)):
                text, confidence = plain, plain_confidence
        if _stutters(text):
            # "kata-kata-kata-kata" or "cramp cramp cramp": the decoder looping; keep one of each.
            text = _collapse_repeats(text)
        if not text:
            return Transcript("", 0.0, True)
        if self._grammar:
            return self._snap(text, confidence)
        others = self._other_readings(audio, prompt, text) if self._alternatives and self.wants_alternatives else ()
        return Transcript(text, confidence, True, unsure=confidence < self._unsure_below, alternatives=others)

    def _other_readings(self, audio: np.ndarray, prompt: str | None, best: str) -> tuple[str, ...]:
        """Whisper's next likeliest readings of the (first 30 s of the) audio, from one beam search
        that keeps several hypotheses; the ones that differ from the transcript.

        One more encoder pass and beam search for a free description (not for answers): the
        price of not letting one misheard word decide whether a danger screen is asked."""
        import ctranslate2

        from assistant.closed_set import _CHUNK, _tokenizer

        tokenizer = _tokenizer(self._model, self._whisper_language)
        features = self._model.feature_extractor(audio)[:, :_CHUNK]
        padded = np.zeros((features.shape[0], _CHUNK), dtype=np.float32)
        padded[:, : features.shape[1]] = features
        start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        if prompt:
            start = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-223:], *start]
        count = self._alternatives + 1
        with _whisper_lock:
            encoded = self._model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=True)
            result = self._model.model.generate(encoded, [start], beam_size=max(count, self._beam_size),
                                                num_hypotheses=count, max_length=160, suppress_blank=True)[0]
        readings = []
        for sequence in result.sequences_ids:
            reading = normalise_text(tokenizer.decode([t for t in sequence if t < tokenizer.eot]))
            reading = _collapse_repeats(reading) if _stutters(reading) else reading
            if reading and reading != best and reading not in readings:
                readings.append(reading)
        return tuple(readings)

    def _snap(self, text: str, confidence: float) -> Transcript:
        """In grammar mode only an expected phrase may come out, like Vosk's grammar with [unk]."""
        from rapidfuzz import fuzz, process

        best = process.extractOne(text, self._grammar, scorer=fuzz.WRatio, score_cutoff=_GRAMMAR_CUTOFF)
        if best is None:
            return Transcript("", 0.0, True)
        return Transcript(best[0], confidence * best[1] / 100.0, True)

    def finish(self) -> Transcript:
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        return self.transcribe(samples)

    def set_grammar(self, phrases: list[str] | None) -> None:
        self._grammar = [p.lower() for p in phrases] if phrases else None

    def reset(self) -> None:
        self._chunks = []

    def hear_answer(self, samples: np.ndarray, classes: dict[str, str], *, danger: bool = False):
        """Which expected phrase was said (closed_set.Choice): each phrase of `classes` (phrase ->
        yes, no, unsure, sometimes or a command) is scored against the audio by the model itself.
        After a danger screen's question (`danger`), a no must also read the audio well."""
        from assistant import closed_set
        from assistant.knowledge import load_knowledge

        samples = np.asarray(samples, dtype=np.int16)
        if is_silent(samples) or len(samples) > 25 * SAMPLE_RATE or not classes:
            return closed_set.Choice(closed_set.FREE)
        spoken = closed_set.spoken_forms(load_knowledge().pack(self.language).language.spelling)
        audio = samples.astype(np.float32) / 32768.0
        with _whisper_lock:
            scores, free_text = closed_set.score(self._model, audio, classes, self._written,
                                                 self._whisper_language, spoken)
        rules = closed_set.Rules(share=self._answer_share, no_fit=self._answer_no_fit if danger else None,
                                 no_share=self._answer_no_share if danger else None)
        choice = closed_set.decide(scores, normalise_text(free_text), rules)
        log.debug("closed set: %s %r (%s, share %.2f); free listen %r", choice.outcome, choice.phrase,
                  choice.kind, choice.share, choice.free_text)
        return choice

    def language_scores(self, samples: np.ndarray, choices: tuple[str, ...]) -> dict[str, float]:
        """Whisper's probability for each of `choices`; empty when this model cannot tell."""
        if not self.multilingual or is_silent(samples):
            return {}
        audio = np.asarray(samples, dtype=np.int16).astype(np.float32) / 32768.0
        with _whisper_lock:
            _, _, probabilities = self._model.detect_language(audio, vad_filter=True)
        found = dict(probabilities)
        return {code: found.get(code, 0.0) for code in choices}



def whisper_recogniser(profile: RecognitionProfile, model: str = "") -> WhisperRecogniser:
    """Whisper set up as the voice profile says (language, beam, prompt), on `model` or the profile's."""
    from assistant import models

    return WhisperRecogniser(
        models.model_path(model or profile.whisper_model),
        profile.language,
        whisper_language=profile.whisper_language,
        beam_size=profile.beam_size,
        hints=profile.hint_words,
        prompt=profile.prompt,
        unsure_below=profile.whisper_unsure_below,
        answer_share=profile.answer_share,
        answer_no_fit=profile.answer_no_fit_on_screens,
        answer_no_share=profile.answer_no_share_on_screens,
        written_forms=profile.written_forms,
        alternatives=profile.alternatives,
    )

