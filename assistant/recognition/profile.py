"""The [recognition] section of voices/<lang>.toml: which engine and model a language uses."""

from __future__ import annotations

import platform
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache

from assistant.errors import KnowledgeError
from assistant.resources import data_dir


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

    alternatives: int = 0
    """How many other hypotheses of a free description Whisper also gives (0 none): a danger cue
    heard only in one of them asks its screen (rules.yaml `doubt:`)."""

    answer_share: float = 0.8
    """After a yes/no question, the share of the likelihood of yes and no together that a yes (or
    a no) must hold for Whisper's closed-set hearing to take it; below it the answer is unclear."""

    answer_no_fit_on_screens: float | None = None
    """After a danger screen's question, how well a no must read the audio (closed_set.Rules.no_fit)."""

    answer_no_share_on_screens: float | None = None
    """After a danger screen's question, the share of all classes a no must hold (closed_set.Rules.no_share)."""

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

