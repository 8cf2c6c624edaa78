"""A voice profile: voices/<lang>.toml [synthesis], scaled by the person's settings.voice.

The profile always carries the espeak-ng fields (voice, words per minute, amplitude), because
espeak-ng is the voice that speaks whenever a natural engine cannot; the natural engine's own
pace comes from its sub-table ([synthesis.hibari], [synthesis.piper]).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import KnowledgeError
from assistant.resources import data_dir

ENGINES = ("hibari", "piper", "espeak")

# A sentence ends at . ! ? or … followed by space, or at a line break (replies.yaml writes one
# sentence per line). "3.5" or "e.g." without a following space stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")


@dataclass(frozen=True)
class EngineChoice:
    """One natural engine as a voice profile names it."""

    name: str
    """hibari or piper."""

    voice: str = ""
    """hibari: a voice of the hibari package ("heart" is inside it); piper: a model of voices/models.toml."""

    pace: float = 1.0
    """The engine's own speed knob at settings.voice.rate 1.0: hibari `speed` (below 1 is slower),
    Piper `length_scale` (above 1 is slower)."""
    uri: str = ""
    """wyoming: the service's address (from the settings, not the voice profile)."""


@dataclass(frozen=True)
class VoiceProfile:
    """How one language is spoken (voices/<lang>.toml [synthesis], scaled by the settings)."""

    language: str
    voice: str
    """espeak-ng voice name, optionally with a variant: en-gb, en-us+f3, id."""

    rate: int
    """espeak-ng words per minute, already scaled by settings.voice.rate."""

    volume: float
    """0..1, already scaled by settings.voice.volume; the same loudness on every engine."""

    sentence_pause: float
    """Seconds of quiet between sentences: time for an older listener to follow."""

    rate_scale: float = 1.0
    """settings.voice.rate itself: how a natural engine's pace is scaled ("slower" lowers it)."""

    engines: tuple[EngineChoice, ...] = ()
    """Natural engines in order of preference; the first installed one speaks, espeak-ng otherwise."""

    wanted: str = ""
    """The engine the caregiver chose (settings.voice.engine); empty follows the preference."""

    own_voice: str = ""
    """espeak-ng's own voice for the language (never MBROLA): it speaks when an MBROLA `voice`
    cannot, since it needs nothing beyond espeak-ng itself. Empty: the same as `voice`."""

    @property
    def espeak_own(self) -> str:
        return self.own_voice or self.voice

    @property
    def amplitude(self) -> int:
        """espeak-ng's -a scale (0..200, 100 is normal) for the command-line fall-back."""
        return max(0, min(200, round(100 * self.volume)))

    def choice(self, name: str) -> EngineChoice | None:
        return next((engine for engine in self.engines if engine.name == name), None)

    @property
    def hibari_speed(self) -> float:
        choice = self.choice("hibari")
        return (choice.pace if choice else 1.0) * self.rate_scale

    @property
    def piper_length_scale(self) -> float:
        choice = self.choice("piper")
        return (choice.pace if choice else 1.0) / self.rate_scale


def _number(table: dict, key: str, default: float, label: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KnowledgeError(f"{label}: {key} must be a number, not {value!r}")
    return float(value)


def _engines(table: dict, label: str) -> tuple[EngineChoice, ...]:
    names = table.get("engines", ["espeak"])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(name in ENGINES for name in names):
        raise KnowledgeError(f"{label}: [synthesis] engines must be a list of {', '.join(ENGINES)}, not {names!r}")
    choices = []
    for name in names:
        if name == "espeak":
            continue
        section = table.get(name, {})
        if not isinstance(section, dict):
            raise KnowledgeError(f"{label}: [synthesis.{name}] must be a table")
        knob = "speed" if name == "hibari" else "length_scale"
        pace = _number(section, knob, 1.0, f"{label} [synthesis.{name}]")
        if not 0.5 <= pace <= 2.0:
            raise KnowledgeError(f"{label}: [synthesis.{name}] {knob} must be between 0.5 and 2.0, not {pace}")
        voice = str(section.get("voice", "heart" if name == "hibari" else ""))
        if not voice:
            raise KnowledgeError(f"{label}: [synthesis.{name}] needs voice, the name of a Piper voice in voices/models.toml")
        choices.append(EngineChoice(name, voice, pace))
    return tuple(choices)


MBROLA_VOICES = Path("/usr/share/mbrola")
"""Where Debian's mbrola-* packages put their diphone databases (mbrola-id1: id1/id1)."""


def own_espeak_voice(wanted) -> str:
    """The profile's first espeak-ng voice that is not an MBROLA one."""
    names = [str(name) for name in wanted] if isinstance(wanted, list) else [str(wanted)]
    return next((name for name in names if not name.startswith("mb-")), names[-1])


def espeak_voice(wanted) -> str:
    """The first installed of the profile's espeak-ng voices: an MBROLA voice ("mb-id1") only
    when its database is on the device, espeak-ng's own voices always."""
    names = [str(name) for name in wanted] if isinstance(wanted, list) else [str(wanted)]
    for name in names:
        if not name.startswith("mb-"):
            return name
        database = name[3:].partition("+")[0]
        if (MBROLA_VOICES / database / database).exists() or (MBROLA_VOICES / database).is_file():
            return name
    return names[-1]


def load_voice(language: str, settings=None) -> VoiceProfile:
    path = data_dir("voices") / f"{language}.toml"
    label = f"voices/{language}.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("synthesis", {})
    except FileNotFoundError:
        raise KnowledgeError(f"{label} is missing; there is no voice for language '{language}'") from None
    except tomllib.TOMLDecodeError as error:
        raise KnowledgeError(f"{label}: not valid TOML ({error})") from None
    try:
        voice = espeak_voice(table.get("voice", language))
        own_voice = own_espeak_voice(table.get("voice", language))
        rate = float(table.get("rate", 145))
        volume = float(table.get("volume", 1.0))
        pause = float(table.get("sentence_pause", 0.4))
    except (TypeError, ValueError):
        raise KnowledgeError(f"{label}: [synthesis] rate, volume and sentence_pause must be numbers") from None
    if not (60 <= rate <= 400 and 0 < volume <= 1 and 0 <= pause <= 3):
        raise KnowledgeError(f"{label}: [synthesis] needs rate 60..400, volume 0..1, sentence_pause 0..3")
    engines = _engines(table, label)
    voice_settings = getattr(settings, "voice", None)
    rate_scale = float(getattr(voice_settings, "rate", 1.0))
    volume_scale = float(getattr(voice_settings, "volume", 1.0))
    wanted = str(getattr(voice_settings, "engine", "") or "")
    remote = getattr(settings, "synthesis", None)
    if remote is not None and remote.engine == "wyoming":
        # The caregiver pointed the assistant at a voice service: it speaks first, the device's own
        # voices (and always espeak-ng) after it.
        engines = (EngineChoice("wyoming", remote.voice, 1.0, remote.uri), *engines)
        wanted = "wyoming"
    return VoiceProfile(language, voice, round(rate * rate_scale), min(1.0, volume * volume_scale), pause,
                        rate_scale, engines, wanted, own_voice)


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]
