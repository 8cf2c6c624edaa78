"""`calf-assistant run`: the live loop on the microphone and the speaker.

    wait for activation ─► capture one utterance (endpoint) ─► recognise ─► handle_turn ─► speak

The typed and the spoken loops share one turn function, `handle_turn(text) -> reply`, so the
conversation (issue 4) replaces one function and both loops follow. Every sentence the person
hears or reads comes from intents/<lang>/replies.yaml; the one-line technical notes on stderr are
for the caregiver.

Nothing here may end the loop except the person: a device, model or synthesis error is reported
in one line and the loop goes on (the microphone is reopened with a growing pause); Ctrl-C and
SIGTERM end with exit code 0, and SIGHUP reloads the settings and the voice (assistant.signals).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, TextIO

import numpy as np

from assistant.errors import AssistantError, DeviceError, InputError, ModelError, SynthesisError
from assistant.memory import cap_arenas, give_back_free_memory

log = logging.getLogger(__name__)

LANGUAGES = ("en", "id")

ACTIVATION_ENV = "CALF_ASSISTANT_ACTIVATION"
"""`auto` listens again as soon as a turn is over, with no Enter key (tests, hands-free trials)."""

MAX_TURNS_ENV = "CALF_ASSISTANT_MAX_TURNS"
"""Stop after this many listening turns (tests); unset or 0 means no limit."""

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds between attempts to reopen a failed microphone: quick at first (a loose plug), then
slow enough not to flood the log while it stays unplugged."""

TurnHandler = Callable[[str], str]


# ---- the turn: text in, reply out --------------------------------------------------------------


def answer_turns(settings) -> TurnHandler:
    """One stateless answer per turn (the conversation will replace this with the dialogue)."""
    from assistant.answer import answer_text

    def handle_turn(text: str) -> str:
        return answer_text(text, settings.language, settings).reply

    return handle_turn


def home_language(settings) -> str:
    """The language of the assistant's own messages ('auto' has not heard anybody yet)."""
    return settings.language if settings.language in LANGUAGES else "en"


def reply_text(language: str, key: str, **values) -> str:
    from assistant.knowledge import load_knowledge

    return load_knowledge().pack(language).reply(key, **values)


def _note(message: str) -> None:
    """A one-line note for the caregiver on stderr."""
    print(f"calf-assistant: {message}", file=sys.stderr, flush=True)


# ---- activation: when to start listening -------------------------------------------------------


class Activation(Protocol):
    def wait(self) -> bool:
        """Block until the person wants to speak; False means stop the loop."""


@dataclass
class EnterKey:
    """The default: press Enter, then speak (end of input ends the loop)."""

    stream: TextIO

    def wait(self) -> bool:
        return bool(self.stream.readline())


class Immediately:
    """Listen again straight away (CALF_ASSISTANT_ACTIVATION=auto)."""

    def wait(self) -> bool:
        return True


def make_activation(settings, stdin: TextIO) -> tuple[Activation, str]:
    """The activation and the key of the 'ready' reply that tells the person what to do.

    GPIO buttons and wake phrases plug in here; until they exist, those modes fall back to Enter.
    """
    if os.environ.get(ACTIVATION_ENV, "").strip().lower() == "auto":
        return Immediately(), "ready_hands_free"
    mode = settings.activation.mode
    if mode == "button":
        from assistant.activation import PushToTalk

        return PushToTalk(stdin, settings.activation.gpio_pin), "ready_button"
    # A wake phrase needs the microphone and the recogniser: the spoken loop sets it up (wake_up).
    return EnterKey(stdin), "ready"


def max_turns_from_env() -> int | None:
    raw = os.environ.get(MAX_TURNS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{MAX_TURNS_ENV} must be a whole number, not '{raw}'") from None
    return value if value > 0 else None


# ---- the two ends ------------------------------------------------------------------------------


class Ears:
    """The recogniser, loaded once; in 'auto' language each language's one is loaded when first heard."""

    def __init__(self, settings):
        from assistant.recognition import load_recogniser

        self._settings = settings
        self._load = load_recogniser
        self._recognisers: dict[str, object] = {}
        self._grammars: dict[int, list[str] | None] = {}
        self._fixed = settings.language if settings.language in LANGUAGES else None
        self._get(self._fixed or "en")

    def _get(self, language: str):
        if language not in self._recognisers:
            recogniser = self._load(language, self._settings)
            # A conversation can ask about a danger cue only possibly heard, so it wants the
            # recogniser's other readings of a description too (one turn alone could not ask).
            if hasattr(recogniser, "wants_alternatives"):
                recogniser.wants_alternatives = True
            self._recognisers[language] = recogniser
        return self._recognisers[language]

    def keep_language(self, language: str | None) -> None:
        """Once the conversation knows the language, stop guessing it for every utterance."""
        if language in LANGUAGES:
            self._fixed = language
            self._get(language)

    def hear(self, samples: np.ndarray, phrases: list[str] | None = None, *, fallback: bool = True,
             danger: bool = False):
        """What was said; with phrases, as one of them (Vosk grammar, Whisper prompt and snap).

        With `fallback`, an utterance that fits none of the phrases is heard again freely, because
        a danger sign said instead of "yes" or "no" must never be lost to the grammar. `danger`:
        the question was a danger screen, where a no must be heard beyond doubt.
        """
        from assistant.recognition import detect_language

        language = self._fixed or detect_language(samples, self._settings)
        recogniser = self._get(language)
        if phrases and fallback and hasattr(recogniser, "hear_answer"):
            return self._hear_answer(recogniser, samples, phrases, language, danger)
        transcript = self._decode(recogniser, samples, phrases)
        if phrases and fallback and not transcript.text:
            transcript = self._decode(recogniser, samples, None)
        return transcript

    def _hear_answer(self, recogniser, samples: np.ndarray, phrases: list[str], language: str, danger: bool = False):
        """Whisper after a yes/no question: the expected phrase the model itself finds likeliest.

        An answer it cannot tell comes back empty and unsure, never as a guess (the conversation
        asks again); a sentence instead of an answer is heard freely.
        """
        from assistant import closed_set
        from assistant.recognition import Transcript

        choice = recogniser.hear_answer(samples, closed_set.classes_of(phrases, language), danger=danger)
        if choice.outcome == closed_set.ANSWER:
            return Transcript(choice.phrase, choice.share, True)
        if choice.outcome == closed_set.UNCLEAR:
            return Transcript("", 0.0, True, unsure=True)
        heard = self._decode(recogniser, samples, None)
        if danger and _bare_no(heard.text, language):
            # The model found no expected phrase in this audio, so a free listen that reads as a
            # bare no is a guess, and on a danger screen a guessed no would deny the sign.
            return Transcript("", 0.0, True, unsure=True)
        return heard

    def start_hearing(self, phrases: list[str] | None = None) -> "Hearing | None":
        """Hear while the person speaks, when the recogniser decodes as it is fed (Vosk) and the
        language is known. None when the utterance must be heard whole once it is over (Whisper,
        or a language still to be told from the audio)."""
        if not self._fixed:
            return None
        recogniser = self._get(self._fixed)
        if not getattr(recogniser, "streams", False):
            return None
        self._prepare(recogniser, phrases)
        return Hearing(self, recogniser, phrases)

    def _prepare(self, recogniser, phrases: list[str] | None) -> None:
        if self._grammars.get(id(recogniser), None) != phrases:
            recogniser.set_grammar(phrases)  # rebuilding a Vosk grammar costs; only on change
            self._grammars[id(recogniser)] = phrases
        recogniser.reset()

    def _decode(self, recogniser, samples: np.ndarray, phrases: list[str] | None):
        from assistant.recognition import SAMPLE_RATE

        self._prepare(recogniser, phrases)
        # Fed in 0.2 s blocks as a microphone would; Vosk decodes while it is fed.
        step = SAMPLE_RATE // 5
        for start in range(0, len(samples), step):
            recogniser.accept(samples[start : start + step])
        return recogniser.finish()


class Hearing:
    """One utterance heard as it is captured: each frame reaches the recogniser as it arrives, so
    at the end of speech only the last moment is left to decode (the Pi budget needs this)."""

    def __init__(self, ears: Ears, recogniser, phrases: list[str] | None):
        self._ears, self._recogniser, self._phrases = ears, recogniser, phrases

    def feed(self, frame: np.ndarray) -> None:
        self._recogniser.accept(frame)

    def result(self, samples: np.ndarray):
        """The transcript once the utterance is over; `samples` is the whole utterance, heard
        again freely if it fits none of the phrases (as Ears.hear does)."""
        transcript = self._recogniser.finish()
        if self._phrases and not transcript.text:
            transcript = self._ears.hear(samples)
        return transcript


CHIME_RATE = 16000


def chime_samples(volume: float = 1.0) -> np.ndarray:
    """E5 then A5, 0.12 s each, faded in and out so the speaker does not click."""
    notes = []
    for frequency in (659.25, 880.0):
        t = np.arange(int(CHIME_RATE * 0.12)) / CHIME_RATE
        envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
        notes.append(np.sin(2 * np.pi * frequency * t) * envelope)
    return (np.concatenate(notes) * 0.35 * volume * 32767).astype(np.int16)


class Mouth:
    """Says a text: printed for whoever reads along, spoken with the microphone muted."""

    def __init__(self, settings, microphone=None, *, speak=None, out: TextIO | None = None):
        if speak is None:
            from assistant.synthesis import speak
        self._speak = speak
        self._settings = settings
        self._microphone = microphone
        self._out = out or sys.stdout

    def retune(self, settings) -> None:
        """Speak with these settings from now on (the person asked for slower or louder)."""
        self._settings = settings

    def chime(self) -> None:
        """Two short rising notes: heard the wake word, listening now. Quicker than words, so the
        person can start speaking at once."""
        import contextlib

        from assistant.devices import Speaker

        muted = self._microphone.muted() if self._microphone is not None else contextlib.nullcontext()
        try:
            with muted:
                Speaker(self._settings.audio.output_device).play(chime_samples(self._settings.voice.volume), CHIME_RATE)
        except DeviceError as error:
            _note(str(error))

    def say(self, text: str, language: str | None = None) -> None:
        from assistant.synthesis import resolve_language

        print(text, file=self._out, flush=True)
        language = resolve_language(text, language or self._settings.language)
        try:
            if self._microphone is not None:
                with self._microphone.muted():
                    self._speak(text, language, self._settings)
            else:
                self._speak(text, language, self._settings)
        except (SynthesisError, DeviceError) as error:
            _note(str(error))


# ---- the loops ---------------------------------------------------------------------------------


def typed_loop(handle_turn: TurnHandler, language: str, stdin: TextIO, stdout: TextIO) -> int:
    print(reply_text(language, "typed_prompt"), file=stdout, flush=True)
    for line in stdin:
        text = line.strip()
        if not text:
            continue
        try:
            reply = handle_turn(text)
        except InputError as error:
            _note(str(error))
            continue
        print(reply, file=stdout, flush=True)
    return 0


def _backoff_delays() -> Iterator[float]:
    yield from BACKOFF
    while True:
        yield BACKOFF[-1]


@dataclass
class SpokenLoop:
    settings: object
    handle_turn: TurnHandler
    ears: Ears
    microphone: object
    mouth: Mouth
    activation: Activation
    ready_key: str = "ready"
    max_turns: int | None = None
    sleep: Callable[[float], None] = time.sleep
    listen_timeout: float = 8.0
    wake_phrase: str = ""
    microphone_failing: bool = False
    """A microphone error was reported; said once per outage, not at every retry."""
    microphone_said: str = ""
    """The last reason given for not opening the microphone, until it works again: a microphone
    that opens and fails again at once is still the same outage."""
    hangup: object | None = None
    """assistant.signals.Hangup: after a SIGHUP, `reread` gives the settings for the next turn."""
    reread: Callable[[], object] | None = None

    @property
    def language(self) -> str:
        return home_language(self.settings)

    def open_microphone(self) -> None:
        """Open it, retrying with a growing pause; a device may come back (plugged in again)."""
        from assistant.devices import refresh

        delays = _backoff_delays()
        while True:
            try:
                self.microphone.open()
                if self.microphone_said:
                    self.microphone_failing = True  # the first turn heard says it works again
                return
            except DeviceError as error:
                delay = next(delays)
                # One line an outage (and one if the reason changes), not one every 30 s for as
                # long as it stays unplugged: a caregiver reads the journal days later.
                if str(error) != self.microphone_said:
                    _note(f"{error} (trying again in {delay:.0f} s, then every {BACKOFF[-1]:.0f} s at most; "
                          "a line will say when it works again)")
                    self.microphone_said = str(error)
                else:
                    log.debug("microphone still missing: %s", error)
                self.sleep(delay)
                refresh()

    def capture(self, on_speech=None, answer: bool = False):
        """One utterance; `answer`: a yes/no question was asked, so a short answer ends sooner."""
        from assistant.endpoint import EndpointConfig, capture

        config = EndpointConfig.from_settings(self.settings, listen_timeout=self.listen_timeout,
                                              answer_silence=self._answer_silence() if answer else None)
        self.microphone.flush()  # what was said before activation is not for us
        return capture(self.microphone.blocks(), config, on_speech=on_speech)

    def _answer_silence(self) -> float | None:
        from assistant.recognition import load_profile

        language = getattr(self.handle_turn, "language", None) or self.language
        try:
            return load_profile(language).answer_end_silence
        except AssistantError:
            return None

    def run(self) -> int:
        self.open_microphone()
        self.mouth.say(reply_text(self.language, self.ready_key, wake_phrase=self.wake_phrase))
        turns = 0
        while self.max_turns is None or turns < self.max_turns:
            if not self.activation.wait():
                break
            if self.hangup is not None and self.hangup.take():
                self.reload()
            if self.ready_key == "ready_wake":
                self.mouth.say(reply_text(self.language, "wake_prompt"))
            turns += 1
            self.turn()
            give_back_free_memory()
        return 0

    def reload(self) -> None:
        """SIGHUP: the settings file again, and a voice loaded again if it failed, was changed in
        the settings, or its model file changed (a repaired model speaks again, a broken one hands
        over to espeak-ng); the conversation going on carries on. The language and the recogniser
        are loaded once at start, so changing them needs a restart."""
        from dataclasses import replace

        from assistant.synthesis import forget_stale_voices

        try:
            settings = self.reread() if self.reread is not None else self.settings
        except AssistantError as error:
            _note(f"the settings were not reloaded ({error}); the ones in use stay")
            return
        settings = replace(settings, language=self.settings.language, recognition=self.settings.recognition)
        use_settings = getattr(self.handle_turn, "use_settings", None)
        if use_settings is not None:
            use_settings(settings)
        device_changed = settings.audio.input_device != self.settings.audio.input_device
        new, old = settings.audio, self.settings.audio
        cleaning_changed = (new.noise_suppression, new.auto_gain) != (old.noise_suppression, old.auto_gain)
        if cleaning_changed and hasattr(self.microphone, "cleaner"):
            from assistant.cleaning import cleaner_for

            self.microphone.cleaner = cleaner_for(settings.audio, note=_note)
        self.settings = settings
        self.mouth.retune(settings)
        forget_stale_voices()
        load_voices(settings)
        if device_changed and hasattr(self.microphone, "device"):
            self.microphone.device = settings.audio.input_device
            self.recover_microphone()
        _note("settings reloaded (SIGHUP); language and recognition change only with a restart")

    def wake_on_word(self, engine) -> None:
        """Listen for a wake word (assistant.wake) instead of waiting for Enter."""
        from assistant.activation import WakeWord

        self.activation = WakeWord(engine, self.microphone.blocks, self.microphone.flush, self.mouth.chime,
                                   self.recover_microphone, self.sleep)
        self.ready_key = "ready_wake"
        self.wake_phrase = engine.spoken

    def wake_up(self, phrases: list[str]) -> None:
        """Listen for a wake phrase instead of waiting for Enter."""
        from assistant.activation import WakePhrase

        self.activation = WakePhrase(phrases, self.listen_for, self.recover_microphone, self.sleep)
        self.ready_key = "ready_wake"
        self.wake_phrase = phrases[0]

    def turn(self) -> None:
        phrases = _expected_phrases(self.handle_turn)
        try:
            hearing = self.ears.start_hearing(phrases) if hasattr(self.ears, "start_hearing") else None
        except AssistantError as error:  # ModelError, KnowledgeError: say so, keep listening
            _note(str(error))
            return
        try:
            utterance = self.capture(hearing.feed if hearing else None, answer=bool(phrases))
        except DeviceError as error:
            if not self.microphone_failing:
                _note(str(error))
                self.mouth.say(reply_text(self.language, "device_error"))
            self.microphone_failing = True
            self.microphone.close()
            self.open_microphone()
            return
        if self.microphone_failing:
            _note("the microphone works again")
            self.microphone_failing = False
            self.microphone_said = ""
        if not utterance.heard_speech:
            self.mouth.say(reply_text(self.language, "heard_nothing"))
            return
        try:
            heard = hearing.result(utterance.audio) if hearing is not None else None
            transcript, reply = spoken_turn(self.ears, self.handle_turn, utterance.audio, self.language, heard)
        except AssistantError as error:  # ModelError, KnowledgeError: say so, keep listening
            _note(str(error))
            return
        log.info("heard %.1f s, confidence %.2f%s", utterance.seconds, transcript.confidence,
                 " (unsure)" if transcript.unsure else "")
        self.mouth.say(reply, self._follow_conversation())

    def _follow_conversation(self) -> str | None:
        """The conversation may have settled the language or changed the voice: keep up."""
        language = getattr(self.handle_turn, "language", None)
        if language and hasattr(self.ears, "keep_language"):
            self.ears.keep_language(language)
        settings = getattr(self.handle_turn, "settings", None)
        if settings is not None:
            self.settings = settings
            self.mouth.retune(settings)
        return language

    def listen_for(self, phrases: list[str]) -> str:
        """One utterance heard only as one of the phrases ("" otherwise): the wake phrase."""
        utterance = self.capture()
        if not utterance.heard_speech:
            return ""
        try:
            return self.ears.hear(utterance.audio, phrases, fallback=False).text
        except AssistantError as error:
            _note(str(error))
            return ""

    def recover_microphone(self) -> None:
        self.microphone.close()
        self.open_microphone()


def _bare_no(text: str, language: str) -> bool:
    from assistant.knowledge import load_knowledge
    from assistant.matching import match_answer

    return 0 < len(text.split()) <= 2 and match_answer(text, load_knowledge().pack(language)) == "no"


def spoken_turn(ears, handle_turn: TurnHandler, samples: np.ndarray, language: str, transcript=None):
    """One spoken turn, shared by the live loop and `chat --audio`: (what was heard, the reply).

    The utterance is heard with the listening the conversation asks for (free, or the answers and
    commands after a yes/no question); `transcript` is given when it was heard while captured.
    An answer the hearing could not tell is asked again, never guessed.
    """
    phrases = _expected_phrases(handle_turn)
    if transcript is None:
        danger = bool(getattr(handle_turn, "asking_about_danger", False))
        transcript = ears.hear(samples, phrases, danger=danger) if phrases else ears.hear(samples)
    if not transcript.text:
        misheard = getattr(handle_turn, "misheard", None)
        # Speech after a question that gave no words counts as an unclear answer too: asked again,
        # then a kind ending that names the open sign, never the same question for ever.
        if (transcript.unsure or phrases) and misheard is not None:
            return transcript, misheard()
        return transcript, reply_text(language, "heard_nothing")
    heard_with_doubts = getattr(handle_turn, "heard_with_doubts", None)
    if heard_with_doubts is not None and (transcript.unsure or transcript.alternatives):
        return transcript, heard_with_doubts(transcript.text, unsure=transcript.unsure,
                                             alternatives=transcript.alternatives)
    heard_unsure = getattr(handle_turn, "heard_unsure", None)
    if transcript.unsure and heard_unsure is not None:
        return transcript, heard_unsure(transcript.text)
    return transcript, handle_turn(transcript.text)


def audio_chat(conversation, ears, stream, out: TextIO, *, as_json: bool = True) -> int:
    """`chat --audio`: each line names a WAV file heard as the person's next turn; the reply is
    printed as text, or with `as_json` (--json) as the chat object with its transcript."""
    import json

    from assistant.audio import load_wav

    def emit(reply: str, transcript: str) -> None:
        if not as_json:
            print(reply, file=out, flush=True)
            return
        payload = {**conversation.turn.to_dict(), "reply": reply, "transcript": transcript}
        print(json.dumps(payload, ensure_ascii=False), file=out, flush=True)

    for raw in stream:
        path = raw.decode("utf-8", errors="replace").strip() if isinstance(raw, bytes) else raw.strip()
        if not path:
            continue
        language = conversation.language or home_language(conversation.settings)
        try:
            samples = load_wav(path)
            transcript, reply = spoken_turn(ears, conversation, samples, language)
        except AssistantError as error:  # a missing or broken recording, a model that failed
            _note(str(error))
            emit(reply_text(language, "recording_unreadable"), "")
            continue
        if conversation.language:
            ears.keep_language(conversation.language)
        emit(reply, transcript.text)
    return 0


def _expected_phrases(handle_turn) -> list[str] | None:
    """After a yes/no question the conversation names what to listen for; a plain function does not."""
    phrases = getattr(handle_turn, "listening_phrases", None)
    return phrases() if callable(phrases) else None


def nobody_types(stream: TextIO) -> bool:
    """True when the input is /dev/null, as under systemd: nobody can type, so the typed
    conversation would end at once."""
    import stat

    try:
        info, null = os.fstat(stream.fileno()), os.stat(os.devnull)
    except (OSError, ValueError):  # a stream without a file (io.StringIO): somebody feeds it
        return False
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == null.st_rdev


def microphone_problem(settings) -> str | None:
    """Why the live loop cannot listen, in one line; None when a microphone is there."""
    from assistant.devices import INPUT, list_devices, pick_device

    try:
        devices = list_devices()
        if not any(device.inputs > 0 for device in devices):
            return "no microphone was found (none connected, or the sound server is not running)"
        pick_device(settings.audio.input_device, devices, INPUT)
    except DeviceError as error:
        return str(error)
    return None


def run_command(args, settings, handle_turn: TurnHandler, *, stdin: TextIO | None = None,
                stdout: TextIO | None = None) -> int:
    """The live loop around `handle_turn` (the conversation, from assistant.chat); with --typed, or
    without a microphone, the typed conversation instead.

    Non-interactive use (tests, trials): CALF_ASSISTANT_ACTIVATION=auto listens without waiting
    for Enter, and CALF_ASSISTANT_MAX_TURNS=N stops after N listening turns. Both are environment
    variables rather than flags because they are not for the person using the assistant.
    """
    from assistant import alerts, signals

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    language = home_language(settings)
    max_turns = max_turns_from_env()
    # The long-running loop is the one that tells Home Assistant it runs (and its last will, that it stopped).
    alerts.start(settings, announce=True)
    hangup, restore_signals = signals.install()
    try:
        problem = None if args.typed else microphone_problem(settings)
        if problem and nobody_types(stdin):
            # A service (stdin is /dev/null): ending here with exit 0 would leave it stopped for good.
            _note(f"{problem}; waiting for one")
            problem = None
        if args.typed or problem:
            if problem:
                _note(problem)
                print(reply_text(language, "no_microphone"), file=stdout, flush=True)
            return typed_loop(handle_turn, language, stdin, stdout)
        return _spoken(settings, handle_turn, stdin, stdout, max_turns, hangup, _rereader(args))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (signals.Terminated)
        print(file=stdout, flush=True)
        return 0
    finally:
        close = getattr(handle_turn, "close", None)
        if close is not None:
            close()
        alerts.stop(drain=alerts.EXIT_DRAIN)
        restore_signals()


def _rereader(args) -> Callable[[], object]:
    """The settings as at start (file, environment, then the command line's flags), read again."""

    def reread():
        from assistant.cli import settings_for

        return settings_for(args)

    return reread


def load_voices(settings) -> None:
    """Load each language's voice before anybody speaks: an emergency reply must never wait for a
    model to load. A voice that fails to load has already been replaced by espeak-ng (and logged)."""
    from assistant.synthesis import preload

    for language in (LANGUAGES if settings.language not in LANGUAGES else (settings.language,)):
        try:
            preload(language, settings)
        except AssistantError as error:  # a broken voices/<lang>.toml: speaking will say so too
            _note(str(error))


def _wake_engine(settings):
    """The wake-word model the settings name; None for the recogniser's wake phrase, which is
    also the fallback when the model cannot load, so the assistant is never deaf to being called."""
    from assistant.wake import load_engine

    if settings.activation.wake_engine == "phrase":
        return None
    try:
        return load_engine(settings.activation)
    except ModelError as error:
        _note(f"{error}; listening for the wake phrase with the recogniser instead")
        return None


def _spoken(settings, handle_turn: TurnHandler, stdin: TextIO, stdout: TextIO, max_turns: int | None,
            hangup=None, reread=None) -> int:
    from assistant.cleaning import cleaner_for
    from assistant.devices import Microphone

    cap_arenas()  # before the recogniser and the voices start their threads
    try:
        ears = Ears(settings)
    except ModelError as error:
        # Without a recogniser the assistant cannot listen, but it can still help in writing.
        _note(str(error))
        return typed_loop(handle_turn, home_language(settings), stdin, stdout)
    load_voices(settings)
    microphone = Microphone(settings.audio.input_device, cleaner=cleaner_for(settings.audio, note=_note))
    activation, ready_key = make_activation(settings, stdin)
    loop = SpokenLoop(settings, handle_turn, ears, microphone, Mouth(settings, microphone, out=stdout), activation,
                      ready_key=ready_key, max_turns=max_turns, hangup=hangup, reread=reread)
    if settings.activation.mode == "wake" and not isinstance(activation, Immediately):
        wake_engine = _wake_engine(settings)
        if wake_engine is not None:
            loop.wake_on_word(wake_engine)
        else:
            from assistant.activation import wake_phrases

            loop.wake_up(wake_phrases(settings.activation.wake_phrase))
    try:
        return loop.run()
    finally:
        microphone.close()
