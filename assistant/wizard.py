"""`calf-assistant setup`: the caregiver's guided setup, spoken and printed step by step.

Every step asks one thing, shows the current answer as the default (so re-running keeps what was
chosen before) and has a command-line flag so an installer script can answer it instead. Nothing is
written until the last step: Ctrl-C anywhere leaves the previous settings file exactly as it was,
and the final write is atomic (assistant.config.save_settings).

Words the older person or the caregiver hears come from intents/<lang>/replies.yaml (wizard_*);
only device lists and technical fix commands are printed in English from here.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

from assistant.config import (
    LANGUAGES,
    SETTINGS_VERSION,
    Settings,
    default_config_path,
    from_table,
    alert_problems,
    save_settings,
    validate,
    with_emergency,
)
from assistant.errors import AssistantError, ConfigError, InputError

log = logging.getLogger(__name__)

RATE_STEP = 0.1
VOLUME_STEP = 0.15
METER_SECONDS = 4.0
RECORD_SECONDS = 5.0
CONVERSATION_TURNS = 2
YES = {"y", "yes", "ya", "iya", "yup", "ok", "oke"}
NO = {"n", "no", "t", "tidak", "tdk", "nggak", "gak", "enggak"}


@dataclass(frozen=True)
class Options:
    """The answers given on the command line; None means 'ask, or keep the saved answer'."""

    interactive: bool = True
    language: str | None = None
    emergency: str | None = None
    rate: float | None = None
    volume: float | None = None
    engine: str | None = None
    activation: str | None = None
    wake_phrase: str | None = None
    wake_word: str | None = None
    alert_mqtt: str | None = None
    alert_webhook: str | None = None
    alert_level: str | None = None
    input_device: str | None = None
    output_device: str | None = None
    download_models: bool = False
    skip_models: bool = False
    skip_audio_test: bool = False
    skip_test_conversation: bool = False
    speech: bool = True
    config: Path | None = None


def options_from_args(args) -> Options:
    def value(name: str, default=None):
        return getattr(args, name, default)

    return Options(
        interactive=not value("non_interactive", False),
        language=value("lang"),
        emergency=value("setup_emergency"),
        rate=value("rate"),
        volume=value("volume"),
        engine=value("voice"),
        activation=value("activation"),
        wake_phrase=value("wake_phrase"),
        wake_word=value("wake_word"),
        alert_mqtt=value("alert_mqtt"),
        alert_webhook=value("alert_webhook"),
        alert_level=value("alert_level"),
        input_device=value("input_device"),
        output_device=value("output_device"),
        download_models=bool(value("download_models", False)),
        skip_models=bool(value("skip_models", False)),
        skip_audio_test=bool(value("skip_audio_test", False)),
        skip_test_conversation=bool(value("skip_test_conversation", False)),
        speech=not value("no_speech", False),
        config=value("config"),
    )


# ---------------------------------------------------------------------------------------------
# speaking and asking


def _pack(language: str):
    from assistant.knowledge import load_knowledge

    return load_knowledge().pack(language)


def make_speaker(language: str, settings: Settings) -> Callable[[str], None]:
    from assistant import synthesis

    return lambda text: synthesis.speak(text, language, settings)


class Console:
    """Prints every step, speaks it while speech works, and reads answers (or uses the defaults)."""

    def __init__(self, interactive: bool, speech: bool, *, read: Callable[[str], str] = input, write: Callable[[str], None] = print):
        self.interactive = interactive
        self.speech = speech
        self.read = read
        self.write = write
        self.language = "en"
        self.settings = Settings()
        self._speaker: Callable[[str], None] | None = None
        self.microphone = None
        """Opened once by the microphone step and kept: here a stream opened after playback hears nothing."""

    def use(self, language: str, settings: Settings) -> None:
        """Speak from now on in this language, at this speed and loudness."""
        self.language, self.settings, self._speaker = language, settings, None

    def _speak(self, text: str) -> None:
        if not self.speech:
            return
        try:
            if self._speaker is None:
                self._speaker = make_speaker(self.language, self.settings)
            if self.microphone is not None:
                with self.microphone.muted():  # the wizard must not hear itself
                    self._speaker(text)
            else:
                self._speaker(text)
        except Exception as error:  # no voice or no speaker: printing alone still guides them
            self.speech = False
            self.write(f"(speech is not working, so the steps are only printed: {type(error).__name__}: {error})")

    def tell(self, key: str, language: str | None = None, **values) -> str:
        language = language or self.language
        text = _pack(language).reply(key, **values)
        self.write(text)
        if language == self.language:
            self._speak(text)
        return text

    def say(self, text: str) -> None:
        """A sentence that is already in the spoken language (e.g. a reply of the test conversation)."""
        self.write(text)
        self._speak(text)

    def note(self, text: str) -> None:
        """Technical lines for the caregiver: printed, never spoken."""
        self.write(text)

    def ask(self, label: str, default: str) -> str:
        if not self.interactive:
            return default
        answer = self.read(f"{label} [{default}]: " if default else f"{label}: ").strip()
        return answer or default

    def confirm(self, label: str, default: bool) -> bool:
        while True:
            answer = self.ask(label + " (y/n)", "y" if default else "n").lower()
            if answer in YES:
                return True
            if answer in NO:
                return False
            self.write("y / n")


# ---------------------------------------------------------------------------------------------
# previous answers


def previous_settings(path: Path, console: Console) -> Settings:
    """The saved answers as defaults; a broken file is explained and kept aside, never silently lost."""
    if not path.is_file():
        return Settings()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        table, problem = None, str(error)
    if table is not None:
        version = table.get("version", 0)
        if isinstance(version, int) and version > SETTINGS_VERSION:
            raise InputError(
                f"{path} was written by a newer calf-assistant (settings version {version}, this one knows {SETTINGS_VERSION}); "
                "upgrade with ./scripts/setup instead of running an older setup over it"
            )
        try:
            return from_table(table, str(path))
        except ConfigError as error:
            problem = str(error)
    console.note(f"The settings file {path} cannot be used ({problem}).")
    console.note("Setup starts from the defaults; the old file is kept beside the new one when setup finishes.")
    return Settings()


def _keep_broken(path: Path) -> Path | None:
    if not path.is_file():
        return None
    try:
        from_table(tomllib.loads(path.read_text(encoding="utf-8")), str(path))
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError):
        backup = path.with_name(f"{path.name}.broken-{datetime.now():%Y%m%d-%H%M%S}")
        shutil.copy2(path, backup)
        backup.chmod(0o600)
        return backup


# ---------------------------------------------------------------------------------------------
# the steps; each takes and returns Settings, so nothing is kept half-changed


def step_language(settings: Settings, options: Options, console: Console) -> Settings:
    default = options.language or settings.language
    if options.language is None and console.interactive:
        for language in LANGUAGES:
            console.tell("wizard_language", language)
        while True:
            answer = console.ask("en / id / auto", default).lower()
            if answer in (*LANGUAGES, "auto"):
                default = answer
                break
    return replace(settings, language=default)


def spoken_language(settings: Settings) -> str:
    return settings.language if settings.language in LANGUAGES else "en"


def _adjust(value: float, answer: str, step: float, low: float, high: float) -> float:
    if answer == "1":
        value -= step
    elif answer == "3":
        value += step
    return round(min(high, max(low, value)), 2)


def installed_voices(language: str) -> list[tuple[str, str]]:
    """(engine, label) of every voice that can speak the language here, the natural ones first."""
    from assistant.synthesis.profile import load_voice
    from assistant.synthesis.voices import installed_choices

    profile = load_voice(language)
    voices = [(choice.name, f"{choice.name} ({choice.voice})") for choice in installed_choices(profile)]
    return voices + [("espeak", f"espeak-ng ({profile.voice})")]


def voice_offers(language: str) -> list[str]:
    """One line per better voice for the language that a system package would bring (mbrola-id1
    for Indonesian) and that is not installed: what it is, its licence and how to install it."""
    from pathlib import Path

    from assistant.models import load_engines

    return [
        f"{name} is not installed: {about.get('about', '')}; licence: {about.get('licence', '')}; install: {about['install']}"
        for name, about in load_engines().items()
        if about.get("language") == language and about.get("file") and about.get("install")
        and not Path(about["file"]).exists()
    ]


def step_choose_voice(settings: Settings, options: Options, console: Console) -> Settings:
    """The sample sentence in each installed voice; the caregiver picks the one heard best."""
    for offer in voice_offers(console.language):
        console.note(offer)
    if options.engine is not None:
        return replace(settings, voice=replace(settings.voice, engine=options.engine))
    if not console.interactive or not console.speech:
        return settings  # a choice by ear needs the samples to be heard
    voices = installed_voices(console.language)
    if len(voices) < 2:
        return settings
    current = next((number for number, (engine, _) in enumerate(voices, 1) if engine == settings.voice.engine), 1)
    for number, (engine, label) in enumerate(voices, 1):
        console.note(f"voice {number}: {label}")
        console.use(console.language, replace(settings, voice=replace(settings.voice, engine=engine)))
        console.tell("wizard_sample")
    choices = [str(number) for number in range(1, len(voices) + 1)]
    while True:
        answer = console.ask(f"voice {' / '.join(choices)}", str(current))
        if answer in choices:
            break
    engine = voices[int(answer) - 1][0]
    settings = replace(settings, voice=replace(settings.voice, engine=engine))
    console.note(f"voice = {engine}")
    console.use(console.language, settings)
    return settings


def step_voice(settings: Settings, options: Options, console: Console) -> Settings:
    voice = settings.voice
    if options.rate is not None:
        voice = replace(voice, rate=options.rate)
    if options.volume is not None:
        voice = replace(voice, volume=options.volume)
    settings = replace(settings, voice=voice)
    validate(settings, "--rate/--volume")
    console.use(spoken_language(settings), settings)
    settings = step_choose_voice(settings, options, console)
    validate(settings, "--voice")
    if options.engine is not None or not (console.interactive and console.speech) or len(installed_voices(console.language)) < 2:
        console.use(spoken_language(settings), settings)
        console.tell("wizard_sample")  # (in the choice above, every voice already said it)
    if not console.interactive:
        return settings
    for field_name, question, step, low, high, given in (
        ("rate", "wizard_speed_question", RATE_STEP, 0.5, 1.5, options.rate),
        ("volume", "wizard_volume_question", VOLUME_STEP, 0.1, 1.0, options.volume),
    ):
        if given is not None:
            continue
        while True:
            console.tell(question)
            answer = console.ask("1 / 2 / 3", "2")
            if answer not in ("1", "3"):
                break
            current = getattr(settings.voice, field_name)
            changed = _adjust(current, answer, step, low, high)
            settings = replace(settings, voice=replace(settings.voice, **{field_name: changed}))
            console.use(spoken_language(settings), settings)
            console.note(f"{field_name} = {changed}")
            console.tell("wizard_sample")
            if changed == current:
                break  # at the end of the range; asking again would change nothing
    return settings


# -- audio hardware, through assistant.devices (imported only when the step runs)


def _device_list(kind: str) -> list[tuple[int, str]]:
    from assistant import devices

    return [(device.index, device.name) for device in devices.list_devices() if device.channels(kind) > 0]


def _choose_device(kind: str, current: str, given: str | None, console: Console) -> tuple[str, bool]:
    """The device setting and whether any such device exists."""
    try:
        devices = _device_list(kind)
    except AssistantError as error:  # PortAudio missing or broken: the doctor names the fix
        console.note(f"{error}; fix: sudo apt-get install -y libportaudio2")
        return (given if given is not None else current), False
    if given is not None:
        return given, bool(devices)
    if not devices:
        return current, False
    if console.interactive and len(devices) > 1:
        console.note(f"{kind} devices:")
        for index, name in devices:
            console.note(f"  {index}: {name}")
        answer = console.ask(f"{kind} device number (Enter for {'the saved one' if current else 'the system default'})", "")
        names = dict(devices)
        if answer.isdigit() and int(answer) in names:
            return names[int(answer)], True
    return current, True


def _level_bar(level: float, width: int = 30) -> str:
    filled = min(width, int(level * width))
    return "[" + "#" * filled + " " * (width - filled) + "]"


def _blocks_for(microphone, seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        block = microphone.read(timeout=0.5)
        if block is not None:
            yield block


def level_meter(microphone, seconds: float) -> float:
    """Show the microphone level live; returns the loudest level seen (0..1)."""
    import numpy as np

    loudest = 0.0
    microphone.flush()
    for number, block in enumerate(_blocks_for(microphone, seconds)):
        # Speech RMS rarely passes a quarter of full scale; stretch so a normal voice fills the bar.
        level = min(1.0, float(np.sqrt(np.mean((block.astype(np.float32) / 32768.0) ** 2))) * 4.0)
        loudest = max(loudest, level)
        if number % 2 == 0:  # five updates a second are enough for eyes and kinder to slow terminals
            sys.stdout.write("\r" + _level_bar(level))
            sys.stdout.flush()
    sys.stdout.write("\n")
    return loudest


def record(microphone, seconds: float):
    """Record `seconds` from the open microphone as 16 kHz mono int16."""
    import numpy as np

    microphone.flush()  # what was captured before the question is not the answer
    blocks = list(_blocks_for(microphone, seconds))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


def transcribe(samples, language: str, settings: Settings) -> str:
    from assistant.recognition import recognise

    return recognise(samples, language, settings).text


def step_microphone(settings: Settings, options: Options, console: Console) -> tuple[Settings, bool]:
    """Returns the settings and whether the microphone heard words (so the test talk can use it)."""
    device, present = _choose_device("input", settings.audio.input_device, options.input_device, console)
    settings = replace(settings, audio=replace(settings.audio, input_device=device))
    if not present:
        console.tell("wizard_no_microphone")
        return settings, False
    if options.skip_audio_test or not console.interactive:
        return settings, False
    console.tell("wizard_microphone")
    try:
        from assistant.devices import Microphone

        console.microphone = Microphone(device).open()
        level_meter(console.microphone, METER_SECONDS)
        console.tell("wizard_say_something", example=_pack(console.language).reply("wizard_example"))
        console.note(f"(listening for {RECORD_SECONDS:.0f} seconds)")
        heard = transcribe(record(console.microphone, RECORD_SECONDS), console.language, settings)
    except AssistantError as error:
        console.note(str(error))
        return settings, False
    except Exception as error:  # a busy or vanished device: say so, keep going with typing
        console.note(f"the microphone test failed ({type(error).__name__}: {error}); check it with: arecord -l")
        return settings, False
    if heard:
        console.tell("wizard_heard", text=heard)
        return settings, True
    console.tell("wizard_heard_nothing")
    return settings, False


def step_speaker(settings: Settings, options: Options, console: Console) -> Settings:
    device, present = _choose_device("output", settings.audio.output_device, options.output_device, console)
    settings = replace(settings, audio=replace(settings.audio, output_device=device))
    if not present:
        console.note("no speaker found; plug one in and check it with: aplay -l")
        return settings
    if options.skip_audio_test or not console.interactive:
        return settings
    console.use(spoken_language(settings), settings)
    for _attempt in range(2):
        console.tell("wizard_speaker")
        if console.confirm("?", True):
            return settings
        console.tell("wizard_speaker_failed")
        device, _ = _choose_device("output", device, None, console)
        settings = replace(settings, audio=replace(settings.audio, output_device=device))
        console.use(spoken_language(settings), settings)
    return settings


def step_emergency(settings: Settings, options: Options, console: Console) -> Settings:
    languages = LANGUAGES if settings.language == "auto" else (settings.language,)
    for language in languages:
        current = ",".join(settings.emergency_numbers(language))
        numbers = options.emergency
        if numbers is None:
            if console.interactive:
                console.tell("wizard_emergency", language)
            numbers = current
            while console.interactive:
                numbers = console.ask(f"emergency number(s) ({language})", current)
                try:
                    validate(with_emergency(settings, numbers, language))
                    break
                except ConfigError as error:
                    console.note(str(error))
        settings = with_emergency(settings, numbers, language)
        validate(settings, "--emergency")
    return settings


def step_activation(settings: Settings, options: Options, console: Console) -> Settings:
    mode = options.activation or settings.activation.mode
    if options.activation is None and console.interactive:
        console.tell("wizard_activation")
        while True:
            mode = console.ask("enter / button / wake", mode).lower()
            if mode in ("enter", "button", "wake"):
                break
    from assistant.wake import BUILT_IN

    activation = replace(settings.activation, mode=mode)
    if options.wake_word is not None:
        activation = replace(activation, wake_word=options.wake_word, wake_engine="micro", wake_model="")
    if options.wake_phrase is not None:  # a phrase of one's own is heard by the recogniser
        activation = replace(activation, wake_phrase=options.wake_phrase, wake_engine="phrase")
    if mode == "wake" and options.wake_phrase is None and options.wake_word is None and console.interactive:
        console.tell("wizard_wake_word")
        current = activation.wake_phrase if activation.wake_engine == "phrase" else activation.wake_word
        chosen = console.ask("wake word", current).strip()
        as_name = "_".join(chosen.lower().replace("-", " ").split())  # "Okay Nabu" is okay_nabu
        if as_name in BUILT_IN["micro"]:
            activation = replace(activation, wake_word=as_name, wake_engine="micro", wake_model="")
        elif chosen:
            activation = replace(activation, wake_phrase=chosen, wake_engine="phrase")
    return replace(settings, activation=activation)


def step_alerts(settings: Settings, options: Options, console: Console) -> Settings:
    """Who hears at once of urgent advice: an MQTT broker (Home Assistant) and/or a webhook (ntfy)."""
    alerts = settings.alerts
    for field_name, given, key, label in (
        ("mqtt_uri", options.alert_mqtt, "wizard_alerts", "alerts: MQTT address"),
        ("webhook_url", options.alert_webhook, "wizard_alerts_webhook", "alerts: web address"),
    ):
        saved = getattr(alerts, field_name)
        value = given if given is not None else saved
        if given is None and console.interactive:
            console.tell(key)
            while True:
                value = console.ask(label, saved).strip()
                problems = alert_problems(replace(alerts, **{field_name: value}))
                if not problems:
                    break
                console.note(problems[0])
        alerts = replace(alerts, **{field_name: value})
    if options.alert_level is not None:
        alerts = replace(alerts, level=options.alert_level)
    settings = replace(settings, alerts=alerts)
    validate(settings, "--alert options")
    return settings


def _model_names(settings: Settings) -> list[tuple[str, bool]]:
    """(model, required) for the recognisers of the chosen language(s)."""
    from assistant.recognition import load_profile

    names: dict[str, bool] = {}
    for language in (LANGUAGES if settings.language == "auto" else (settings.language,)):
        profile = load_profile(language)
        if profile.whisper_model:
            names[profile.whisper_model] = True
        if profile.vosk_model:
            names.setdefault(profile.vosk_model, False)
    return list(names.items())


def step_models(settings: Settings, options: Options, console: Console) -> bool:
    """Install what is missing and verify every model of the language; True when all are usable."""
    if options.skip_models:
        return True
    from tqdm import tqdm

    from assistant import models

    console.tell("wizard_models")
    wanted = _model_names(settings)
    catalogue = models.load_catalogue()
    ready = True
    with tqdm(total=len(wanted) + 1, desc="speech models", unit="step", file=sys.stdout) as bar:
        try:
            models.prepare()  # joins models shipped on PyPI; needs no network
        except AssistantError as error:
            bar.write(str(error))
        bar.update()
        for name, required in wanted:
            check = models.check_model(name)
            entry = catalogue.get(name)
            downloadable = entry is not None and entry.source == "download"
            if check.state != "ok" and downloadable and (required or options.download_models or _offer_download(name, console)):
                console.tell("wizard_models_network")
                console.note(f"downloading {name} from {entry.url}")
                try:
                    models.download(name)
                except AssistantError as error:
                    bar.write(str(error))
                check = models.check_model(name)
            if check.state == "ok":
                bar.write(f"ok       {name}: {check.detail}")
            elif required or check.state == "corrupt":
                ready = False
                bar.write(f"{check.state:<8} {name}: {check.detail}")
            bar.update()
    console.tell("wizard_models_ready" if ready else "wizard_models_failed")
    return ready


def _offer_download(name: str, console: Console) -> bool:
    if not console.interactive:
        return False
    return console.confirm(f"Download the optional model {name} now? It needs the internet once", False)


def _listen_or_type(settings: Settings, language: str, console: Console, microphone: bool) -> str:
    if microphone and console.microphone is not None:
        console.note(f"(listening for {RECORD_SECONDS:.0f} seconds)")
        try:
            heard = transcribe(record(console.microphone, RECORD_SECONDS), language, settings)
            console.note(f"> {heard}")
            return heard
        except Exception as error:  # fall back to typing; the doctor explains device problems
            console.note(f"({type(error).__name__}: {error}; please type instead)")
    return console.read("> ").strip()


def step_test_conversation(settings: Settings, options: Options, console: Console, microphone: bool) -> None:
    if options.skip_test_conversation:
        return
    language = spoken_language(settings)
    console.use(language, settings)
    example = _pack(language).reply("wizard_example")
    console.tell("wizard_test_conversation", example=example)
    from assistant.dialogue import Dialogue

    dialogue = Dialogue(settings)
    state, turn = dialogue.start(language)
    console.say(turn.reply)
    for number in range(CONVERSATION_TURNS):
        if console.interactive:
            text = _listen_or_type(settings, language, console, microphone)
        else:
            text = example if number == 0 else _pack(language).reply("wizard_example_answer")
            console.note(f"> {text}")
        state, turn = dialogue.step(state, text)
        console.say(turn.reply)
        if turn.done:
            break


# ---------------------------------------------------------------------------------------------
# the command


def run_wizard(options: Options, console: Console) -> Path:
    try:
        return _run_steps(options, console)
    finally:
        if console.microphone is not None:
            console.microphone.close()
            console.microphone = None


def _run_steps(options: Options, console: Console) -> Path:
    path = options.config or default_config_path()
    settings = previous_settings(path, console)
    console.use(spoken_language(replace(settings, language=options.language or settings.language)), settings)
    console.tell("wizard_welcome")
    settings = step_language(settings, options, console)
    console.use(spoken_language(settings), settings)
    settings = step_voice(settings, options, console)
    settings, microphone = step_microphone(settings, options, console)
    settings = step_speaker(settings, options, console)
    settings = step_emergency(settings, options, console)
    settings = step_activation(settings, options, console)
    settings = step_alerts(settings, options, console)
    step_models(settings, options, console)
    step_test_conversation(settings, options, console, microphone)
    backup = _keep_broken(path)
    if backup:
        console.note(f"the old, unusable settings file was kept as {backup}")
    saved = save_settings(validate(settings, "setup"), path)
    console.use(spoken_language(settings), settings)
    console.tell("wizard_saved", path=str(saved))
    console.tell("wizard_done")
    console.note("Check everything with: calf-assistant doctor")
    console.note("Start it at boot with: calf-assistant service install")
    return saved


def setup_command(args, settings) -> int:
    # `settings` (or the ConfigError of a broken file) already had flags and the environment applied;
    # the wizard re-reads the file itself so only the caregiver's own answers are saved.
    options = options_from_args(args)
    console = Console(options.interactive, options.speech)
    try:
        run_wizard(options, console)
    except (KeyboardInterrupt, EOFError):
        console.write("")
        console.tell("wizard_cancelled")
        return 130
    return 0
