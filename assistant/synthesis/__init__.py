"""Speech out: a natural voice (hibari for English, Piper where a voice is installed) sentence by
sentence, with espeak-ng as the voice that always works.

A voice is data: the [synthesis] section of voices/<lang>.toml (the engines in order of
preference with their slow pace for older listeners, the espeak-ng voice, volume, the pause
between sentences), scaled by the person's settings.voice; "slower" and "louder" change those
settings and so work the same on every engine. One small module per engine: espeak, hibari,
piper; voices.py picks and loads one and falls back to espeak-ng when it fails.

Replies are rendered one sentence at a time so the speaker starts with the first sentence while
the next ones are still being made.
"""

from __future__ import annotations

import os
import queue
import threading
import wave
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from assistant.devices import Speaker
from assistant.errors import InputError
from assistant.synthesis.espeak import (
    Chunk,
    Pyttsx3Engine,
    SentenceRenderer,
    espeak_command,
    espeak_renderer,
    read_wav_bytes,
)
from assistant.synthesis.profile import EngineChoice, VoiceProfile, load_voice, split_sentences
from assistant.synthesis.voices import Voice, default_renderer, preload
from assistant.synthesis.voices import forget_stale as forget_stale_voices

__all__ = [
    "Chunk", "EngineChoice", "Pyttsx3Engine", "Renderer", "SentenceRenderer", "Voice", "VoiceProfile",
    "default_renderer", "espeak_command", "espeak_renderer", "forget_stale_voices", "load_voice", "preload", "read_wav_bytes",
    "render", "render_to_wav", "resolve_language", "say_command", "speak", "split_sentences",
]

Renderer = Callable[[str, VoiceProfile], Chunk]


def resolve_language(text: str, language: str) -> str:
    if language in ("en", "id"):
        return language
    from assistant.understanding import detect_language

    return detect_language(text, default="en")


def render(text: str, language: str, settings=None, *, renderer: Renderer | None = None) -> Iterator[Chunk]:
    """Audio per sentence, each but the last followed by the profile's pause, rendered lazily.

    Lazily matters: the caller plays sentence one while this generator renders sentence two.
    """
    language = resolve_language(text, language)
    profile = load_voice(language, settings)
    renderer = renderer or default_renderer()
    sentences = split_sentences(text)
    for number, sentence in enumerate(sentences):
        samples, rate = renderer(sentence, profile)
        if number < len(sentences) - 1 and profile.sentence_pause > 0:
            samples = np.concatenate([samples, np.zeros(round(rate * profile.sentence_pause), dtype=np.int16)])
        yield samples, rate


_END = object()


def speak(text: str, language: str, settings=None, *, speaker: Speaker | None = None,
          renderer: Renderer | None = None) -> None:
    """Say a reply on the speaker: a player thread plays while this thread renders what comes next."""
    output = getattr(getattr(settings, "audio", None), "output_device", "")
    speaker = speaker or Speaker(output)
    chunks: queue.Queue = queue.Queue()
    failures: list[BaseException] = []
    stop = threading.Event()

    def pending() -> Iterator[Chunk]:
        while not stop.is_set():
            item = chunks.get()
            if item is _END:
                return
            yield item

    def player() -> None:
        try:
            speaker.play_all(pending())
        except BaseException as error:  # handed to the speaking thread, which reports it
            failures.append(error)
            stop.set()

    thread = threading.Thread(target=player, name="calf-speaker", daemon=True)
    thread.start()
    try:
        for chunk in render(text, language, settings, renderer=renderer):
            if failures:
                break
            chunks.put(chunk)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (assistant.signals)
        stop.set()  # stop after the current sentence; do not wait for the rest
        raise
    finally:
        chunks.put(_END)
        _let_the_sentence_finish(thread, stop)
    if failures:
        raise failures[0]


def _let_the_sentence_finish(thread: threading.Thread, stop: threading.Event) -> None:
    """Wait for the player even when Ctrl-C or SIGTERM arrives during the wait.

    A PortAudio stream still playing when the process exits makes it abort or crash (SIGABRT,
    SIGSEGV) instead of ending with exit 0. The signal often lands here rather than while
    rendering (a short reply is all rendered before its first sentence has played), and a bare
    join() would let it through with the player still writing; so the sentence playing is let
    finish, the rest is dropped, and the interrupt is raised once the stream is closed.
    """
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            thread.join()
            break
        except KeyboardInterrupt as error:
            stop.set()
            interrupted = error
    if interrupted is not None:
        raise interrupted


def render_to_wav(text: str, language: str, settings, path: Path, *, renderer: Renderer | None = None) -> float:
    """All sentences, with their pauses, in one 16-bit mono WAV; returns its length in seconds."""
    chunks = list(render(text, language, settings, renderer=renderer))
    rate = chunks[0][1]
    samples = np.concatenate([_at_rate(chunk, chunk_rate, rate) for chunk, chunk_rate in chunks])
    path = Path(path)
    temporary = path.with_name(f".{path.name}.part")
    try:
        # Opening the file first: wave.open(path) on a missing folder leaves a half-made writer
        # whose destructor prints a traceback after our one-line message.
        with open(temporary, "wb") as stream, wave.open(stream, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(samples.astype("<i2").tobytes())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write {path} ({error.strerror or error})") from None
    return len(samples) / rate


def _at_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    import soxr

    return soxr.resample(samples, rate, target).astype(np.int16)


def say_command(args, settings) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise InputError("nothing to say: give the text to speak")
    language = resolve_language(text, settings.language)
    if args.out:
        render_to_wav(text, language, settings, args.out)
    else:
        speak(text, language, settings)
    return 0
