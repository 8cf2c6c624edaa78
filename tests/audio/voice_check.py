"""Say every reply sentence of intents/<lang>/replies.yaml with a voice and hear it back with Whisper
base: how clear a voice is to a listener that never heard it before (used by tests/audio/test_voices.py
and by scripts/voice-accuracy for the README's table)."""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass, replace

import numpy as np


def _words(text: str) -> list[str]:
    kept = "".join(ch if ch.isalnum() or ch == " " else " " for ch in text.lower())
    return kept.split()


def matched_words(reference: str, heard: str) -> int:
    """Reference words the transcript got, in order (as test_recognition.word_accuracy counts)."""
    matcher = difflib.SequenceMatcher(a=_words(reference), b=_words(heard), autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def reply_texts(language: str = "en") -> list[tuple[str, str]]:
    """(key, text) for every reply statement, placeholders filled as the assistant fills them."""
    from assistant.knowledge import load_knowledge

    pack = load_knowledge().pack(language)
    causes = [cause.name for cause in list(pack.causes.values())[:2]]
    flag = next(iter(pack.red_flags.values())).name
    values = {
        "numbers": f"112 {pack.reply('or_word')} 119",
        "causes": f" {pack.reply('or_word')} ".join(causes),
        "name": flag,
        "example": pack.reply("wizard_example"),
        "text": pack.reply("wizard_example"),
        "wake_phrase": "hello calf" if language == "en" else "halo betis",
        "path": "config",
    }
    texts = []
    for key, statements in pack.replies.items():
        for statement in statements:
            fields = {name for _, name, _, _ in string.Formatter().parse(statement.text) if name}
            texts.append((key, statement.text.format(**{name: values[name] for name in fields})))
    return texts


GROUP_SECONDS = 25.0
PAUSE = 0.8
"""Quiet between two statements of a group, as between two replies."""


@dataclass
class Score:
    engine: str
    words: int = 0
    matched: int = 0
    audio_seconds: float = 0.0
    worst: list[tuple[float, str, str]] | None = None

    @property
    def accuracy(self) -> float:
        return self.matched / max(1, self.words)


def score_voice(language: str, settings, texts: list[tuple[str, str]] | None = None) -> Score:
    """Render each text with the settings' voice, resample to 16 kHz and hear it with Whisper base."""
    import soxr

    from assistant.recognition import recognise
    from assistant.synthesis import render
    from assistant.synthesis.profile import load_voice
    from assistant.synthesis.voices import default_renderer

    voice = default_renderer().for_profile(load_voice(language, settings)).load()
    score = Score(voice.engine_name, worst=[])
    # Whisper pads every clip to a 30 s window, so statements are heard in groups of up to
    # GROUP_SECONDS: a quarter of the decoding of one clip per statement, and the same words.
    groups: list[tuple[list[str], list[np.ndarray]]] = [([], [])]
    seconds = 0.0
    gap = np.zeros(int(16000 * PAUSE), dtype=np.int16)
    for _key, text in texts or reply_texts(language):
        chunks = list(render(text, language, settings))
        audio = np.concatenate([soxr.resample(samples, rate, 16000).astype(np.int16) for samples, rate in chunks])
        if seconds + len(audio) / 16000 > GROUP_SECONDS and groups[-1][0]:
            groups.append(([], []))
            seconds = 0.0
        groups[-1][0].append(text)
        groups[-1][1].extend([audio, gap])
        seconds += len(audio) / 16000 + PAUSE
        score.audio_seconds += len(audio) / 16000
    for said, clips in groups:
        text = " ".join(said)
        heard = recognise(np.concatenate(clips), language, settings).text
        words, matched = len(_words(text)), matched_words(text, heard)
        score.words += words
        score.matched += matched
        score.worst.append((matched / max(1, words), text, heard))
    score.worst.sort()
    score.worst = score.worst[:5]
    if voice.engine_name != score.engine:
        score.engine = f"{score.engine} (fell back to {voice.engine_name}: {voice.problem})"
    return score


def settings_for(engine: str, language: str = "en"):
    from assistant.config import Settings, VoiceSettings

    return replace(Settings(language=language), voice=VoiceSettings(engine=engine))
