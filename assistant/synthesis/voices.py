"""Which engine speaks a language, loaded once, with espeak-ng taking over the moment it fails.

The person must never be left in silence: a natural engine that is not installed is simply not
chosen; one that fails to load or to speak (a corrupt model, out of memory) is replaced by
espeak-ng for the rest of the process, the sentence it failed on is spoken by espeak-ng at once,
and one line goes to the log. `calf-assistant doctor` names the fix. A voice on a Wyoming service
is the exception: the service comes back when its machine does, so it is tried again in the
background after a back-off, and never makes a sentence wait for the try.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

from assistant.synthesis.espeak import Chunk, espeak_renderer
from assistant.synthesis.profile import EngineChoice, VoiceProfile
from assistant.wyoming_link import BackOff

log = logging.getLogger(__name__)

WARM_UP = "Ready."
"""Said once, unheard, at load: hibari loads its pronunciation dictionary on the first sentence
(about half a second), which must not be the first sentence of an emergency reply."""


def engine_installed(choice: EngineChoice) -> bool:
    if choice.name == "hibari":
        from assistant.synthesis import hibari

        return hibari.installed(choice.voice)
    if choice.name == "piper":
        from assistant.synthesis import piper

        return piper.installed(choice.voice)
    if choice.name == "wyoming":
        return bool(choice.uri)
    return False


def installed_choices(profile: VoiceProfile) -> list[EngineChoice]:
    """The natural engines of the profile that are on this device, best first."""
    return [choice for choice in profile.engines if engine_installed(choice)]


def chosen(profile: VoiceProfile) -> EngineChoice | None:
    """The natural engine that should speak, or None for espeak-ng.

    The caregiver's choice (settings.voice.engine) wins when this language has that engine; a
    chosen engine that is not installed is still returned, so its failure is logged and shown.
    """
    if profile.wanted == "espeak":
        return None
    if profile.wanted:
        wanted = profile.choice(profile.wanted)
        if wanted is not None:
            return wanted
    found = installed_choices(profile)
    return found[0] if found else None


def recovers(choice: EngineChoice | None) -> bool:
    """A voice on a service comes back when its machine is on again; a damaged local model does not."""
    return choice is not None and choice.name == "wyoming"


def load_engine(choice: EngineChoice):
    if choice.name == "hibari":
        from assistant.synthesis.hibari import HibariEngine

        return HibariEngine(choice.voice)
    if choice.name == "wyoming":
        from assistant.synthesis.wyoming import WyomingEngine

        return WyomingEngine(choice.uri, choice.voice)
    from assistant.synthesis.piper import PiperEngine

    return PiperEngine(choice.voice)


@dataclass
class _State:
    engine: object | None = None
    broken: str = ""
    """Why the natural engine is not used (empty while it works)."""

    probing: bool = False
    """A background try of a recovering engine is under way."""


class Voice:
    """One natural engine for one language, or espeak-ng once it has failed."""

    def __init__(self, choice: EngineChoice | None, *, load: Callable[[EngineChoice], object] = load_engine,
                 fallback: Callable[[str, VoiceProfile], Chunk] | None = None, clock=time.monotonic,
                 language: str = ""):
        self.choice = choice
        self.language = language
        self._load = load
        self._fallback = fallback
        self._state = _State()
        self._lock = threading.Lock()
        self._back_off = BackOff(clock) if recovers(choice) else None
        self.loaded_from: tuple | None = None
        """model_identity() of what the engine was loaded from."""
        self._probe_thread: threading.Thread | None = None

    @property
    def fallback(self) -> Callable[[str, VoiceProfile], Chunk]:
        return self._fallback or espeak_renderer()

    @property
    def engine_name(self) -> str:
        """What is speaking now: hibari, piper or espeak."""
        if self.choice is None or self._state.broken:
            return "espeak"
        return self.choice.name

    @property
    def problem(self) -> str:
        return self._state.broken

    def _give_up(self, what: str, error: BaseException) -> None:
        name = self.choice.name if self.choice else "voice"
        self._state.broken = f"{name} {what} ({type(error).__name__}: {error})"
        self._state.engine = None
        if self._back_off is not None:
            log.warning("%s; speaking with espeak-ng instead, trying the service again in %g s",
                        self._state.broken, self._back_off.failed())
        else:
            log.warning("%s; speaking with espeak-ng instead (calf-assistant doctor names the fix)", self._state.broken)

    def load(self) -> "Voice":
        """Load and warm up the natural engine now, so no reply waits for it."""
        with self._lock:
            self._ensure_loaded()
        return self

    def _ensure_loaded(self):
        if self.choice is None:
            return None
        if self._state.broken:
            self._try_again_later()
            return None
        if self._state.engine is None:
            try:
                self.loaded_from = model_identity(self.choice)
                self._state.engine = self._warmed_up()
                log.info("voice loaded: %s", getattr(self._state.engine, "label", self.choice.name))
            except Exception as error:  # a corrupt model raises whatever its runtime raises
                self._give_up("did not load", error)
                return None
        return self._state.engine

    def _warmed_up(self):
        engine = self._load(self.choice)
        # In the voice's own language, so a service with no voice for it fails here, not mid-reply.
        engine.render(WARM_UP, VoiceProfile(self.language, "", 145, 1.0, 0.0, engines=(self.choice,)))
        return engine

    def _try_again_later(self) -> None:
        """Once its back-off is over, try a recovering engine on a thread of its own: the sentence
        in hand is said by espeak-ng now, and a later one by the service if it is back."""
        if self._back_off is None or self._state.probing or not self._back_off.ready():
            return
        self._state.probing = True
        self._probe_thread = threading.Thread(target=self._probe, name="calf-voice-retry", daemon=True)
        self._probe_thread.start()

    def _probe(self) -> None:
        try:
            engine = self._warmed_up()
        except Exception as error:  # still unreachable: wait longer before the next try
            with self._lock:
                self._state.probing = False
                log.info("%s is still not usable (%s); next try in %g s", self.choice.name, error,
                         self._back_off.failed())
            return
        with self._lock:
            self._state = _State(engine=engine)
            self._back_off.succeeded()
        log.warning("voice back: %s speaks again", getattr(engine, "label", self.choice.name))

    def current(self) -> bool:
        """Working, from the model file that is on disk now (espeak-ng, having none, always is)."""
        if self.choice is None:
            return True
        return not self._state.broken and self._state.engine is not None and \
            self.loaded_from is not None and self.loaded_from == model_identity(self.choice)

    def wait_for_retry(self, timeout: float | None = None) -> None:
        """For tests and shutdown: let a background try finish."""
        thread = self._probe_thread
        if thread is not None:
            thread.join(timeout)

    def __call__(self, text: str, profile: VoiceProfile) -> Chunk:
        with self._lock:
            engine = self._ensure_loaded()
            if engine is not None:
                try:
                    samples, rate = engine.render(text, profile)
                    if samples.size:
                        return samples, rate
                    raise RuntimeError("no audio")
                except Exception as error:  # out of memory, a runtime fault: this sentence still gets said
                    self._give_up("failed to speak", error)
        return self.fallback(text, profile)


class Voices:
    """One Voice per language, the one chosen now, for the whole process (a loaded model is 200 MB).

    Only that one is kept: a voice chosen in passing, while the preferred model's file was missing
    for a moment (being replaced or repaired), used to be held beside it for good, about 90 MB
    (a 40-minute soak's one memory step)."""

    def __init__(self):
        self._voices: dict[str, Voice] = {}
        self._lock = threading.Lock()

    def for_profile(self, profile: VoiceProfile) -> Voice:
        choice = chosen(profile)
        with self._lock:
            voice = self._voices.get(profile.language)
            if voice is None or voice.choice != choice:
                voice = self._voices[profile.language] = Voice(choice, language=profile.language)
            return voice

    def __call__(self, text: str, profile: VoiceProfile) -> Chunk:
        return self.for_profile(profile)(text, profile)

    def forget_stale(self) -> None:
        with self._lock:
            self._voices = {language: voice for language, voice in self._voices.items() if voice.current()}


_VOICES = Voices()


def model_identity(choice: EngineChoice | None) -> tuple | None:
    """The model file a local engine loads, as it is on disk now (None: no file to compare)."""
    try:
        if choice is None or choice.name not in ("hibari", "piper"):
            return None
        if choice.name == "hibari":
            from assistant.synthesis.hibari import model_file
        else:
            from assistant.synthesis.piper import model_file
        path = model_file(choice.voice)
        info = os.stat(path)
    except Exception:  # not installed, unreadable: whatever it is, it is not the loaded one
        return None
    return str(path), info.st_ino, info.st_size, info.st_mtime_ns


def forget_stale() -> None:
    """Drop the voices that failed or whose model file changed on disk since it was loaded: the
    next preload loads them again (SIGHUP, after the caregiver repaired or changed a voice). A
    working voice with the same file is kept: loading one again costs a second or two and, inside
    hibari and onnxruntime, a few megabytes that are never given back."""
    _VOICES.forget_stale()


def default_renderer() -> Voices:
    return _VOICES


def preload(language: str, settings=None) -> Voice:
    """Load the language's voice at start; returns it (its engine_name says what will speak)."""
    from assistant.synthesis.profile import load_voice

    return _VOICES.for_profile(load_voice(language, settings)).load()
