"""Speech recognition: one small interface, two engines (Vosk and faster-whisper), and `listen`.

Every engine takes 16 kHz mono int16 samples (see assistant.audio) and gives a Transcript. Which
engine and model a language uses is data in voices/<lang>.toml. Models are loaded once per process
and shared: loading Whisper base takes seconds on a Raspberry Pi, far too slow per utterance.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import platform
import threading
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import KnowledgeError, ModelError
from assistant.resources import data_dir

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
UNKNOWN = "[unk]"
# Below this level (about -60 dBFS) a recording holds no speech a microphone could have caught.
_SILENCE_RMS = 30.0


@dataclass(frozen=True)
class Transcript:
    text: str
    """What was heard, lower case as the engine gives it; empty when nothing was understood."""

    confidence: float
    """0..1, the engine's own certainty; 0 for an empty transcript."""

    final: bool
    """False for a partial result while the person is still speaking."""

    unsure: bool = False
    """The engine heard words but doubts them (Whisper below the profile's whisper_unsure_below):
    the live conversation asks the person to say it again rather than act on a mishearing."""


class Recogniser(Protocol):
    language: str
    streams: bool
    """True when accept() decodes as it is fed, so feeding it while the person speaks saves time."""

    def accept(self, samples: np.ndarray) -> Transcript | None:
        """Feed 16 kHz mono int16 samples; returns a partial transcript when the engine has one."""

    def finish(self) -> Transcript:
        """End of the utterance: the final transcript; the recogniser is then ready for the next."""

    def set_grammar(self, phrases: list[str] | None) -> None:
        """Only listen for these phrases (anything else gives an empty text); None lifts it."""

    def reset(self) -> None:
        """Forget the audio of the current utterance."""


@dataclass(frozen=True)
class RecognitionProfile:
    """The [recognition] section of voices/<lang>.toml."""

    language: str
    engine: str = "auto"
    """auto, vosk or whisper."""

    vosk_model: str = ""
    whisper_model: str = ""
    whisper_language: str = ""
    """Language code Whisper is forced to; empty means the profile's language."""

    whisper_model_light: str = ""
    """Used instead of whisper_model on ARM boards (Raspberry Pi), where the larger one is too slow."""

    beam_size: int = 5
    hint_words: tuple[str, ...] = ()
    """Domain words the understanding needs; the initial prompt when `prompt` is empty."""

    prompt: str = ""
    """Whisper's initial prompt, written as the kind of thing a user says (see the profile)."""

    whisper_unsure_below: float = 0.0
    """A free transcript less confident than this is marked unsure (0 never)."""

    answer_share: float = 0.8
    """After a yes/no question, the share of the likelihood of yes and no together that a yes (or
    a no) must hold for Whisper's closed-set hearing to take it; below it the answer is unclear."""

    answer_end_silence: float = 0.6
    """Seconds of quiet that end an utterance after a yes/no question once what was said is a
    complete answer (a sentence still waits the full settings.audio.end_of_speech_silence)."""

    written_forms: dict = field(default_factory=dict)
    """Canonical word of intents/<lang>/language.yaml -> how Whisper writes it (dont -> don't)."""


@lru_cache(maxsize=None)
def load_profile(language: str) -> RecognitionProfile:
    path = data_dir("voices") / f"{language}.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("recognition", {})
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: no voice profile for language '{language}'") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise KnowledgeError(f"{path}: cannot read the voice profile ({error})") from None
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}
    if not isinstance(values.get("written_forms", {}), dict):
        raise KnowledgeError(f"{path}: [recognition] written_forms must be a table of word = \"written form\"")
    try:
        profile = RecognitionProfile(language=language, **values)
    except TypeError as error:
        raise KnowledgeError(f"{path}: [recognition]: {error}") from None
    if profile.whisper_model_light and _low_power():
        profile = replace(profile, whisper_model=profile.whisper_model_light)
    return profile


def _low_power() -> bool:
    """Raspberry Pi-class boards: ARM. Whisper base runs about 2x slower than tiny there."""
    return platform.machine().lower().startswith(("arm", "aarch64"))


# ---------------------------------------------------------------------------------------------
# Vosk


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


# ---------------------------------------------------------------------------------------------
# faster-whisper

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


@lru_cache(maxsize=None)
def _whisper_model(path: str):
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=_cpu_threads())
    except Exception as error:  # CTranslate2 raises RuntimeError/ValueError on damaged files
        raise ModelError(f"{Path(path).name} could not be loaded ({error}); run: calf-assistant models verify") from None


def _is_silent(samples: np.ndarray) -> bool:
    if samples.size == 0:
        return True
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < _SILENCE_RMS


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


def _normalise(text: str) -> str:
    """Lower case, punctuation dropped: the form the understanding step reads."""
    kept = "".join(ch if ch.isalnum() or ch in " '-" else " " for ch in text.lower())
    return " ".join(kept.split())


class WhisperRecogniser:
    """Whisper listens to a whole utterance at once, so partial results are not offered."""

    streams = False

    def __init__(self, model_dir: Path, language: str, *, whisper_language: str = "", beam_size: int = 5,
                 hints: tuple[str, ...] = (), prompt: str = "", unsure_below: float = 0.0,
                 options: dict | None = None, answer_share: float = 0.8,
                 written_forms: dict | None = None) -> None:
        self.language = language
        self._model = _whisper_model(str(model_dir))
        self._whisper_language = whisper_language or language
        self._beam_size = beam_size
        self._hints = hints
        self._prompt_text = prompt
        self._unsure_below = unsure_below
        self._options = dict(options or {})
        self._answer_share = answer_share
        self._written = dict(written_forms or {})
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
        text = _normalise(" ".join(segment.text for segment in kept))
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
        items = [_normalise(item) for item in self._hints]
        return any(f" {' '.join(items[k : k + 3])} " in padded for k in range(len(items) - 2))

    def _prompt_run(self, text: str) -> int:
        """The longest run of the prompt's words, in its order, in the text."""
        prompt, heard = _normalise(self._prompt_text).split(), text.split()
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
        if _is_silent(samples):
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
        return Transcript(text, confidence, True, unsure=confidence < self._unsure_below)

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

    def hear_answer(self, samples: np.ndarray, classes: dict[str, str]):
        """Which expected phrase was said (closed_set.Choice): each phrase of `classes` (phrase ->
        yes, no, unsure, sometimes or a command) is scored against the audio by the model itself."""
        from assistant import closed_set
        from assistant.knowledge import load_knowledge

        samples = np.asarray(samples, dtype=np.int16)
        if _is_silent(samples) or len(samples) > 25 * SAMPLE_RATE or not classes:
            return closed_set.Choice(closed_set.FREE)
        spoken = closed_set.spoken_forms(load_knowledge().pack(self.language).language.spelling)
        audio = samples.astype(np.float32) / 32768.0
        with _whisper_lock:
            scores, free_text = closed_set.score(self._model, audio, classes, self._written,
                                                 self._whisper_language, spoken)
        choice = closed_set.decide(scores, _normalise(free_text), closed_set.Rules(share=self._answer_share))
        log.debug("closed set: %s %r (%s, share %.2f); free listen %r", choice.outcome, choice.phrase,
                  choice.kind, choice.share, choice.free_text)
        return choice

    def language_scores(self, samples: np.ndarray, choices: tuple[str, ...]) -> dict[str, float]:
        """Whisper's probability for each of `choices`; empty when this model cannot tell."""
        if not self.multilingual or _is_silent(samples):
            return {}
        audio = np.asarray(samples, dtype=np.int16).astype(np.float32) / 32768.0
        with _whisper_lock:
            _, _, probabilities = self._model.detect_language(audio, vad_filter=True)
        found = dict(probabilities)
        return {code: found.get(code, 0.0) for code in choices}


# ---------------------------------------------------------------------------------------------
# choosing an engine


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
        from assistant.remote import RemoteRecogniser

        return RemoteRecogniser(recognition.uri, language, lambda: load_local_recogniser(language),
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
        written_forms=profile.written_forms,
    )


def recognise(samples: np.ndarray, language: str, settings=None) -> Transcript:
    recogniser = load_recogniser(language, settings)
    if hasattr(recogniser, "transcribe"):  # Whisper, and a Wyoming service: the utterance whole
        return recogniser.transcribe(samples)
    # Vosk is fed in 0.2 s blocks, the way the microphone delivers audio.
    step = SAMPLE_RATE // 5
    for start in range(0, len(samples), step):
        recogniser.accept(samples[start : start + step])
    return recogniser.finish()


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
