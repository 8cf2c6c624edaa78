"""Speech out: pyttsx3 on espeak-ng, sentence by sentence, with the espeak-ng command as fall-back.

A voice is data: the [synthesis] section of voices/<lang>.toml (espeak-ng voice, a slow rate for
older listeners, volume, the pause between sentences), scaled by the person's settings.voice.

Replies are rendered one sentence at a time so the speaker starts with the first sentence while
the next ones are still being made: on a Raspberry Pi a whole reply takes about a second to render.
pyttsx3's espeak driver prints ("Audio saved to ...") and espeak itself writes to stderr; none of
that may reach the person's terminal, so every call runs with the file descriptors silenced.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import subprocess
import tempfile
import threading
import tomllib
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from assistant.devices import Speaker, quiet_native_output
from assistant.errors import InputError, KnowledgeError, SynthesisError
from assistant.resources import data_dir

log = logging.getLogger(__name__)

Chunk = tuple[np.ndarray, int]
"""Mono int16 samples and their sample rate."""

# A sentence ends at . ! ? or … followed by space, or at a line break (replies.yaml writes one
# sentence per line). "3.5" or "e.g." without a following space stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")
_ESPEAK_TIMEOUT = 30.0


@dataclass(frozen=True)
class VoiceProfile:
    """How one language is spoken (voices/<lang>.toml [synthesis], scaled by the settings)."""

    language: str
    voice: str
    """espeak-ng voice name, optionally with a variant: en-gb, en-us+f3, id."""

    rate: int
    """Words per minute, already scaled by settings.voice.rate."""

    volume: float
    """0..1, already scaled by settings.voice.volume."""

    sentence_pause: float
    """Seconds of quiet between sentences: time for an older listener to follow."""

    @property
    def amplitude(self) -> int:
        """espeak-ng's -a scale (0..200, 100 is normal) for the command-line fall-back."""
        return max(0, min(200, round(100 * self.volume)))


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
        voice = str(table.get("voice", language))
        rate = float(table.get("rate", 145))
        volume = float(table.get("volume", 1.0))
        pause = float(table.get("sentence_pause", 0.4))
    except (TypeError, ValueError):
        raise KnowledgeError(f"{label}: [synthesis] rate, volume and sentence_pause must be numbers") from None
    if not (60 <= rate <= 400 and 0 < volume <= 1 and 0 <= pause <= 3):
        raise KnowledgeError(f"{label}: [synthesis] needs rate 60..400, volume 0..1, sentence_pause 0..3")
    voice_settings = getattr(settings, "voice", None)
    rate_scale = getattr(voice_settings, "rate", 1.0)
    volume_scale = getattr(voice_settings, "volume", 1.0)
    return VoiceProfile(language, voice, round(rate * rate_scale), min(1.0, volume * volume_scale), pause)


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


# ---- engines ----------------------------------------------------------------------------------


class Pyttsx3Engine:
    """pyttsx3's espeak driver, rendering to a temporary WAV (it has no in-memory output)."""

    def __init__(self):
        import pyttsx3

        with quiet_native_output():
            self._engine = pyttsx3.init("espeak")
        self._voices: dict[str, str] = {}
        self._applied: tuple[str, int, float] | None = None
        with quiet_native_output():
            for voice in self._engine.getProperty("voices"):
                for name in [voice.id, voice.id.rsplit("/", 1)[-1], *(voice.languages or [])]:
                    self._voices.setdefault(str(name).lower(), voice.id)

    @staticmethod
    @lru_cache(maxsize=1)
    def shared() -> "Pyttsx3Engine":
        """One per process: espeak-ng itself is one per process, and so is what was applied to it."""
        return Pyttsx3Engine()

    def voice_id(self, voice: str) -> str:
        """pyttsx3 ids look like 'gmw/en' or 'poz/id'; the profile says 'en-gb' or 'id'."""
        base, _, variant = voice.lower().partition("+")
        if base not in self._voices:
            raise SynthesisError(f"pyttsx3 has no voice '{voice}'")
        found = self._voices[base]
        return f"{found}+{variant}" if variant else found

    @staticmethod
    def _synchronize() -> None:
        from pyttsx3.drivers import _espeak

        _espeak.Synchronize()

    def _apply(self, profile: VoiceProfile) -> None:
        """Voice, rate and volume, in the one order espeak-ng honours.

        espeak-ng (1.51, synchronous mode) keeps a new rate or volume aside and applies it only
        when a voice is selected, and selecting the voice already in use does nothing; measured:
        without this, a changed speed ("slower" from the person) was ignored or applied one reply
        late. So: rate and volume first, then a different voice, then the wanted one.
        """
        wanted = (self.voice_id(profile.voice), profile.rate, profile.volume)
        if wanted == self._applied:
            return
        voice, rate, volume = wanted
        self._engine.setProperty("rate", rate)
        self._engine.setProperty("volume", volume)
        other = next(found for found in self._voices.values() if found != voice)
        self._engine.setProperty("voice", other)
        self._engine.setProperty("voice", voice)
        self._applied = wanted

    def render(self, text: str, profile: VoiceProfile) -> Chunk:
        handle, path = tempfile.mkstemp(prefix="calf-say-", suffix=".wav")
        os.close(handle)
        try:
            with quiet_native_output():
                # pyttsx3 runs espeak-ng in its asynchronous mode: settings are commands queued to
                # espeak's own thread. Changing them while it still finishes the last sentence
                # raced (measured: empty audio, or a speed applied one reply late), so wait.
                self._synchronize()
                self._apply(profile)
                self._synchronize()
                self._engine.save_to_file(text, path)
                self._engine.runAndWait()
            return read_wav_bytes(Path(path).read_bytes())
        finally:
            Path(path).unlink(missing_ok=True)


def espeak_command(text: str, profile: VoiceProfile) -> Chunk:
    """The espeak-ng program itself: the fall-back when pyttsx3 is missing or broken."""
    command = ["espeak-ng", "-v", profile.voice, "-s", str(profile.rate), "-a", str(profile.amplitude),
               "--stdout", "--stdin"]
    try:
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, timeout=_ESPEAK_TIMEOUT)
    except FileNotFoundError:
        raise SynthesisError("espeak-ng is not installed; fix: sudo apt-get install -y espeak-ng") from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"espeak-ng took longer than {_ESPEAK_TIMEOUT:.0f} s and was stopped") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SynthesisError(f"espeak-ng failed with voice '{profile.voice}': {reason[0] if reason else done.returncode}")
    return read_wav_bytes(done.stdout)


def read_wav_bytes(data: bytes) -> Chunk:
    """16-bit mono WAV bytes to samples; espeak-ng's --stdout header has a placeholder length."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            if reader.getsampwidth() != 2:
                raise SynthesisError(f"the voice produced {8 * reader.getsampwidth()}-bit audio, expected 16-bit")
            rate, channels = reader.getframerate(), reader.getnchannels()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise SynthesisError(f"the voice produced unreadable audio ({error})") from None
    samples = np.frombuffer(frames[: len(frames) - len(frames) % (2 * channels)], dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.astype(np.int16), rate


Renderer = Callable[[str, VoiceProfile], Chunk]


class SentenceRenderer:
    """pyttsx3 while it works; after its first failure, the espeak-ng command for good."""

    def __init__(self, primary: Callable[[], Renderer] | None = None, fallback: Renderer = espeak_command):
        self._make_primary = primary or (lambda: Pyttsx3Engine.shared().render)
        self._primary: Renderer | None = None
        self._broken = False
        self._fallback = fallback
        self._lock = threading.Lock()

    @property
    def using_fallback(self) -> bool:
        return self._broken

    def __call__(self, text: str, profile: VoiceProfile) -> Chunk:
        with self._lock:
            if not self._broken:
                try:
                    if self._primary is None:
                        self._primary = self._make_primary()
                    samples, rate = self._primary(text, profile)
                    if samples.size:
                        return samples, rate
                    raise SynthesisError("pyttsx3 produced no audio")
                except Exception as error:  # any pyttsx3 or driver failure: the command still works
                    log.warning("pyttsx3 failed (%s: %s); using the espeak-ng command", type(error).__name__, error)
                    self._broken = True
            try:
                return self._fallback(text, profile)
            except SynthesisError:
                raise
            except Exception as error:
                raise SynthesisError(f"speech synthesis failed ({type(error).__name__}: {error})") from None


@lru_cache(maxsize=1)
def default_renderer() -> SentenceRenderer:
    # One per process: espeak can only be initialised once per process (pyttsx3 keeps it alive).
    return SentenceRenderer()


# ---- rendering and speaking ---------------------------------------------------------------------


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
    except KeyboardInterrupt:
        stop.set()  # stop after the current sentence; do not wait for the rest
        chunks.put(_END)
        raise
    finally:
        chunks.put(_END)
    thread.join()
    if failures:
        raise failures[0]


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
