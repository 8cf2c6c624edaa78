"""`calf-assistant doctor`: check the installation without changing anything, and say how to fix it.

Each check is one small function taking the settings (or the ConfigError that loading them raised)
and returning a Result with the one command that fixes a failure. Checks reach the system only
through the `_probe_*` functions so a test can make each check fail on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from assistant.config import LANGUAGES, Settings, data_home, default_config_path, state_home
from assistant.errors import AssistantError, ConfigError

MIN_FREE_BYTES = 500 * 1024 * 1024
_TIMEOUT = 15


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    """The one command (or action) that repairs a failure; empty when ok."""

    warning: bool = False
    """Worth knowing but not a failure (e.g. the service is not installed yet)."""


# ---------------------------------------------------------------------------------------------
# probes: the only places that touch the system


def _probe_which(program: str) -> str | None:
    return shutil.which(program)


def _probe_espeak_voices() -> set[str]:
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=_TIMEOUT)
    voices = set()
    for line in listing.stdout.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            voices.update({columns[1], columns[4], columns[4].rsplit("/", 1)[-1]})
    return voices


def _probe_pyttsx3() -> int:
    """Number of voices pyttsx3 sees; raises when the engine cannot start."""
    import pyttsx3

    engine = pyttsx3.init()
    try:
        return len(engine.getProperty("voices") or [])
    finally:
        engine.stop()


def _probe_voice(language: str, settings):
    """(profile, the natural engine that should speak or None, the catalogue name of its model)."""
    from assistant.synthesis.profile import load_voice
    from assistant.synthesis.voices import chosen

    profile = load_voice(language, settings if isinstance(settings, Settings) else None)
    choice = chosen(profile)
    return profile, choice, (voice_model_name(choice) if choice else "")


def _probe_voice_speaks(choice, profile) -> None:
    """Load the engine and make one word, as the assistant does at start; raises what it raises."""
    from assistant.synthesis.voices import load_engine

    samples, _ = load_engine(choice).render("Ready.", profile)
    if not samples.size:
        raise RuntimeError("it made no sound")


def voice_model_name(choice) -> str:
    """The voices/models.toml name of a natural engine's voice."""
    return f"hibari-{choice.voice}" if choice.name == "hibari" else choice.voice


def _probe_devices() -> list[dict]:
    import sounddevice

    return [dict(device) for device in sounddevice.query_devices()]


def _probe_model(name: str):
    from assistant import models

    return models.check_model(name)


def _probe_voice_model(name: str):
    from assistant import models

    return models.check_model(name)


def _probe_profile(language: str):
    from assistant.recognition import load_profile

    return load_profile(language)


def _probe_free_bytes(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _probe_service():
    from assistant import service

    return service.state(service.scope_for(system=False)), service.state(service.scope_for(system=True))


def _probe_pulse() -> bool:
    if shutil.which("pactl") is None:
        return False
    return subprocess.run(["pactl", "info"], capture_output=True, timeout=_TIMEOUT).returncode == 0


def _probe_alsa_cards() -> bool:
    cards = Path("/proc/asound/cards")
    try:
        return "no soundcards" not in cards.read_text() and bool(cards.read_text().strip())
    except OSError:
        return False


def _probe_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _probe_writable(folder: Path) -> bool:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


# ---------------------------------------------------------------------------------------------
# helpers


def _languages(settings: Settings | ConfigError) -> tuple[str, ...]:
    if isinstance(settings, Settings) and settings.language in LANGUAGES:
        return (settings.language,)
    return LANGUAGES


def _synthesis_voice(language: str) -> str:
    from assistant.resources import data_dir
    from assistant.synthesis.profile import own_espeak_voice

    path = data_dir("voices") / f"{language}.toml"
    wanted = tomllib.loads(path.read_text(encoding="utf-8")).get("synthesis", {}).get("voice", language)
    # An MBROLA voice ("mb-id1") is an optional extra listed first; espeak-ng's own voice after it
    # is the one that must always be there, since it speaks whenever MBROLA cannot.
    own = own_espeak_voice(wanted)
    return own.split("+", 1)[0]  # "+f3" picks a variant of the same voice file


def _diary_folder() -> Path:
    try:
        from assistant import diary

        locate = getattr(diary, "diary_path", None) or getattr(diary, "diary_dir", None)
        if locate is not None:
            path = Path(locate())
            return path if path.suffix == "" else path.parent
    except (ImportError, AssistantError):
        pass
    return data_home()


def _device_named(devices: list[dict], wanted: str, channels_key: str) -> bool:
    usable = [d for d in devices if d.get(channels_key, 0) > 0]
    if wanted.isdigit():
        return any(index == int(wanted) for index, d in enumerate(devices) if d.get(channels_key, 0) > 0)
    return any(wanted.lower() in str(d.get("name", "")).lower() for d in usable)


# ---------------------------------------------------------------------------------------------
# checks


def check_settings(settings: Settings | ConfigError) -> Result:
    path = default_config_path()
    if isinstance(settings, AssistantError):
        return Result("settings", False, str(settings), f"calf-assistant setup   (or correct the line named above in {path})")
    where = str(path) if path.is_file() else f"{path} (not written yet; defaults are used)"
    if not path.is_file():
        return Result("settings", True, where, "calf-assistant setup", warning=True)
    return Result("settings", True, f"valid: {where}")


def check_espeak(settings: Settings | ConfigError) -> Result:
    if _probe_which("espeak-ng") is None:
        return Result("espeak-ng", False, "espeak-ng (the voice) is not installed", "sudo apt-get install -y espeak-ng")
    voices = _probe_espeak_voices()
    missing = [lang for lang in _languages(settings) if _synthesis_voice(lang) not in voices]
    if missing:
        names = ", ".join(f"'{_synthesis_voice(lang)}' ({lang})" for lang in missing)
        return Result("espeak-ng", False, f"espeak-ng has no voice {names}", "sudo apt-get install -y --reinstall espeak-ng-data")
    return Result("espeak-ng", True, "voices " + ", ".join(_synthesis_voice(lang) for lang in _languages(settings)))


def check_pyttsx3(settings: Settings | ConfigError) -> Result:
    try:
        count = _probe_pyttsx3()
    except Exception as error:  # pyttsx3 raises whatever its driver raises
        return Result("speech engine", False, f"pyttsx3 does not start ({type(error).__name__}: {error})",
                      "sudo apt-get install -y libespeak-ng1 && ./scripts/setup")
    if count == 0:
        return Result("speech engine", False, "pyttsx3 starts but finds no voices", "sudo apt-get install -y libespeak-ng1 espeak-ng-data")
    return Result("speech engine", True, f"pyttsx3 works ({count} voices)")


def check_voice(settings: Settings | ConfigError) -> Result:
    """The voice each language will speak with: the natural one, loaded and speaking, or why
    espeak-ng will speak instead and the one command that brings the natural voice back."""
    spoken = []
    for language in _languages(settings):
        profile, choice, model_name = _probe_voice(language, settings)
        if choice is not None and choice.name == "wyoming":
            spoken.append(f"{language}: the Wyoming voice service, espeak-ng when it cannot (see 'voice service')")
            continue
        if choice is None:
            listed = [engine.name for engine in profile.engines]
            if profile.wanted == "espeak" or not listed:
                spoken.append(f"{language}: espeak-ng")
                continue
            if language == "en" and "hibari" in listed:
                return Result("voice", True, "en: hibari-tts is not installed, so espeak-ng speaks English",
                              "./scripts/setup", warning=True)
            spoken.append(f"{language}: espeak-ng (a Piper voice would be more natural: "
                          f"calf-assistant models download {profile.engines[0].voice})")
            continue
        check = _probe_voice_model(model_name)
        if check.state != "ok":
            fix = check.detail.split("run: ", 1)[1] if "run: " in check.detail else "./scripts/setup"
            if choice.name == "piper" and check.state == "missing":
                fix = f"pip install 'calf-assistant[piper]' && calf-assistant models download {model_name}"
            return Result("voice", False, f"{language}: the {choice.name} voice {model_name} is {check.state}, "
                          "so espeak-ng speaks instead", fix)
        try:
            _probe_voice_speaks(choice, profile)
        except Exception as error:  # a corrupt model raises whatever its runtime raises
            fix = ("pip install --force-reinstall hibari-tts" if choice.name == "hibari"
                   else f"calf-assistant models download {model_name}")
            return Result("voice", False, f"{language}: {choice.name} does not speak ({type(error).__name__}: "
                          f"{error}), so espeak-ng speaks instead", fix)
        spoken.append(f"{language}: {choice.name} ({model_name})")
    return Result("voice", True, "; ".join(spoken))


def _check_device(settings: Settings | ConfigError, kind: str) -> Result:
    channels_key = "max_input_channels" if kind == "input" else "max_output_channels"
    what, lister = ("microphone", "arecord -l") if kind == "input" else ("speaker", "aplay -l")
    name = f"{kind} device"
    try:
        devices = _probe_devices()
    except Exception as error:  # PortAudio missing or broken
        return Result(name, False, f"cannot list audio devices ({error})", "sudo apt-get install -y libportaudio2")
    if not any(d.get(channels_key, 0) > 0 for d in devices):
        return Result(name, False, f"no {what} found", f"plug in a USB {what}, check it with: {lister}, then run: calf-assistant setup")
    wanted = ""
    if isinstance(settings, Settings):
        wanted = settings.audio.input_device if kind == "input" else settings.audio.output_device
    if wanted and not _device_named(devices, wanted, channels_key):
        return Result(name, False, f"the {what} '{wanted}' from the settings is not connected",
                      "plug it back in, or choose another with: calf-assistant setup")
    count = sum(d.get(channels_key, 0) > 0 for d in devices)
    return Result(name, True, f"{count} {what}(s) found" + (f"; using '{wanted}'" if wanted else ""))


def check_input_device(settings: Settings | ConfigError) -> Result:
    return _check_device(settings, "input")


def check_output_device(settings: Settings | ConfigError) -> Result:
    return _check_device(settings, "output")


def check_models(settings: Settings | ConfigError) -> Result:
    problems, good = [], []
    for language in _languages(settings):
        try:
            profile = _probe_profile(language)
        except AssistantError as error:
            return Result("speech models", False, str(error), "./scripts/setup")
        needed = [profile.whisper_model] if profile.whisper_model else []
        # An optional Vosk model only matters when it is there: a damaged one would be preferred.
        optional = [profile.vosk_model] if profile.vosk_model else []
        for model_name in needed + optional:
            check = _probe_model(model_name)
            if check.state == "ok":
                good.append(model_name)
            elif check.state == "corrupt" or model_name in needed:
                problems.append((model_name, check.detail))
    if problems:
        model_name, detail = problems[0]
        fix = detail.split("run: ", 1)[1] if "run: " in detail else "calf-assistant models prepare"
        return Result("speech models", False, f"{model_name}: {detail.split('; run:')[0]}", fix)
    return Result("speech models", True, "checksums match: " + ", ".join(dict.fromkeys(good)))


def check_private_files(settings: Settings | ConfigError) -> Result:
    config_file = default_config_path()
    folders = dict.fromkeys([_diary_folder(), data_home(), state_home(), config_file.parent])
    for folder in folders:
        if not _probe_writable(folder):
            return Result("private files", False, f"{folder} cannot be written by this user",
                          f"sudo chown -R $USER: {folder}")
        mode = _probe_mode(folder)
        if mode is not None and mode & 0o077:
            return Result("private files", False, f"{folder} can be read by other users (mode {mode:o})",
                          f"chmod -R go-rwx {folder}")
    mode = _probe_mode(config_file)
    if mode is not None and mode & 0o077:
        return Result("private files", False, f"{config_file} can be read by other users (mode {mode:o})", f"chmod 600 {config_file}")
    return Result("private files", True, "settings, diary and logs are readable by this user only")


def check_service(settings: Settings | ConfigError) -> Result:
    try:
        states = _probe_service()
    except Exception as error:  # systemctl hanging or missing must not break the checklist
        return Result("service", True, f"cannot ask systemd ({error})", "calf-assistant service status", warning=True)
    installed = [s for s in states if s.installed]
    if not installed:
        return Result("service", True, "not installed: the assistant does not start at boot",
                      "calf-assistant service install", warning=True)
    current = installed[0]
    flag = " --system" if current.scope.system else ""
    if not current.systemd:
        return Result("service", True, f"unit at {current.path}; systemd is not running here, so its state is unknown",
                      f"calf-assistant service status{flag}", warning=True)
    if not current.active:
        return Result("service", False, f"installed at {current.path} but not running (see: {current.scope.journal})",
                      " ".join(current.scope.systemctl("restart", "calf-assistant.service")))
    return Result("service", True, f"running ({current.path})")


def check_disk(settings: Settings | ConfigError) -> Result:
    folder = data_home()
    free = _probe_free_bytes(folder)
    megabytes = free // (1024 * 1024)
    if free < MIN_FREE_BYTES:
        return Result("disk space", False, f"only {megabytes} MB free for {folder} (models and the diary need 500 MB)",
                      "sudo apt-get clean && sudo journalctl --vacuum-size=50M")
    return Result("disk space", True, f"{megabytes} MB free")


def check_sound_system(settings: Settings | ConfigError) -> Result:
    if _probe_pulse():
        return Result("sound system", True, "PulseAudio (or PipeWire) answers")
    if _probe_alsa_cards():
        return Result("sound system", True, "ALSA sound cards found (PulseAudio is not running)")
    return Result("sound system", False, "neither PulseAudio nor an ALSA sound card answers",
                  "pulseaudio --start   (or: sudo apt-get install -y pulseaudio alsa-utils, then reboot)")


def _probe_asr_languages(uri: str) -> set[str]:
    from assistant.recognition.wyoming import asr_languages

    return asr_languages(uri)


def check_speech_service(settings: Settings | ConfigError) -> Result:
    """A configured Wyoming speech-to-text service answers and offers the languages in use."""
    if isinstance(settings, ConfigError) or settings.recognition.engine != "wyoming":
        return Result("speech service", True, "none configured: this device hears by itself")
    uri = settings.recognition.uri
    try:
        offered = _probe_asr_languages(uri)
    except AssistantError as error:
        return Result("speech service", False, f"{error}; this device hears by itself meanwhile",
                      f"start the wyoming-faster-whisper service on that machine, or check recognition.uri ({uri})")
    missing = [language for language in _languages(settings) if language not in offered]
    if missing:
        return Result("speech service", False, f"{uri} does not offer {', '.join(missing)}",
                      "start the service with a multilingual Whisper model (not a .en one)")
    return Result("speech service", True, f"{uri} answers, offering {', '.join(_languages(settings))}")


def _probe_tts_voice(uri: str, named: str, language: str) -> str:
    """The service's voice for the language, once it has said a word with it."""
    from assistant.synthesis.profile import load_voice
    from assistant.synthesis.voices import WARM_UP
    from assistant.synthesis.wyoming import WyomingEngine

    engine = WyomingEngine(uri, named, timeout=10.0)
    voice = engine.voice_for(language)
    engine.render(WARM_UP, load_voice(language))
    return voice


def check_voice_service(settings: Settings | ConfigError) -> Result:
    """A configured Wyoming voice service answers, and which of its voices speaks each language."""
    if isinstance(settings, ConfigError) or settings.synthesis.engine != "wyoming":
        return Result("voice service", True, "none configured: this device speaks by itself")
    uri, named = settings.synthesis.uri, settings.synthesis.voice
    found, missing = [], []
    for language in _languages(settings):
        try:
            voice = _probe_tts_voice(uri, named, language)
        except AssistantError as error:
            if "cannot be reached" in str(error) or "did not answer" in str(error):
                return Result("voice service", False, f"{error}; this device speaks by itself meanwhile",
                              f"start the wyoming-piper service on that machine, or check synthesis.uri ({uri})")
            missing.append(f"{language} ({error})")
            continue
        found.append(f"{language}: {voice or 'its default voice'}")
    if missing:
        return Result("voice service", True, f"no usable voice for {', '.join(missing)}, so this device "
                      "speaks that language itself" + (f"; {'; '.join(found)}" if found else ""),
                      "install a voice for that language on the service and name it in synthesis.voice",
                      warning=True)
    return Result("voice service", True, f"{uri} answers: {'; '.join(found)}")


def _probe_wake_word(activation) -> str:
    """How the wake word is said, once its model has loaded; ModelError with the reason if not."""
    from assistant.wake import load_engine

    return load_engine(activation).spoken


def _probe_cleaning(audio) -> str | None:
    """Why the microphone's sound cleaner cannot start (None: it starts, or it is off)."""
    from assistant.cleaning import cleaner_for

    reasons: list[str] = []
    cleaner_for(audio, note=reasons.append)
    return reasons[0] if reasons else None


def _probe_voice_detector() -> str | None:
    """Why Silero, the voice detector that ends an utterance, cannot start (None: it starts)."""
    from assistant.endpoint import silero_problem

    return silero_problem() or None


def check_listening(settings: Settings | ConfigError) -> Result:
    """The wake-word model loads (when a wake word starts listening) and the sound cleaner starts
    (when it is on): both fall back quietly in `run`, so this is where a caregiver sees why."""
    if isinstance(settings, ConfigError):
        return Result("listening", True, "checked once the settings can be read")
    notes = []
    activation = settings.activation
    if activation.mode == "wake" and activation.wake_engine != "phrase":
        try:
            notes.append(f"wake word \"{_probe_wake_word(activation)}\" ({activation.wake_engine}) loads")
        except AssistantError as error:
            return Result("listening", False, f"{error}; run falls back to the recogniser's wake phrase",
                          "calf-assistant setup --wake-word okay_nabu (or fix activation.wake_model)")
    elif activation.mode == "wake":
        notes.append("the recogniser listens for the wake phrase")
    else:
        notes.append(f"listening starts with {activation.mode}")
    detector_problem = _probe_voice_detector()
    if detector_problem:
        return Result("listening", False, f"{detector_problem}; webrtcvad listens instead and may not notice the end "
                      "of speech in street noise", "./scripts/setup")
    audio = settings.audio
    if audio.noise_suppression or audio.auto_gain:
        reason = _probe_cleaning(audio)
        if reason:
            return Result("listening", False, reason, "./scripts/setup")
        notes.append(f"noise suppression {audio.noise_suppression}, automatic gain {audio.auto_gain}")
    else:
        notes.append("noise suppression and automatic gain are off")
    return Result("listening", True, "; ".join(notes))


def _probe_alert_channels(settings: Settings) -> list[tuple[str, str | None]]:
    """Each alert channel and why it cannot take an alert (None: it can)."""
    from assistant.alerts import check

    return check.channels(settings.alerts)


def check_alerts(settings: Settings | ConfigError) -> Result:
    """Configured caregiver alert channels can be reached and accept this device."""
    if isinstance(settings, ConfigError) or not settings.alerts.enabled:
        return Result("caregiver alerts", True, "none configured (set [alerts] mqtt_uri or webhook_url to tell a caregiver)")
    found = _probe_alert_channels(settings)
    problems = [reason for _name, reason in found if reason]
    if problems:
        return Result("caregiver alerts", False, problems[0] + "; the assistant keeps talking and keeps the alerts",
                      "fix that setting, then: calf-assistant alerts test")
    return Result("caregiver alerts", True, ", ".join(name for name, _ in found) + " reachable (send one with: calf-assistant alerts test)")


CHECKS: tuple[Callable[[Settings | ConfigError], Result], ...] = (
    check_settings,
    check_espeak,
    check_pyttsx3,
    check_voice,
    check_input_device,
    check_output_device,
    check_models,
    check_listening,
    check_speech_service,
    check_voice_service,
    check_alerts,
    check_private_files,
    check_service,
    check_disk,
    check_sound_system,
)


def run_checks(settings: Settings | ConfigError) -> list[Result]:
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as error:  # one broken probe must not hide the rest of the checklist
            name = check.__name__.removeprefix("check_").replace("_", " ")
            results.append(Result(name, False, f"the check itself failed: {type(error).__name__}: {error}", "./scripts/setup"))
    return results


def format_checklist(results: list[Result]) -> str:
    lines = []
    for result in results:
        mark = "WARN" if result.warning else (" OK " if result.ok else "FAIL")
        lines.append(f"[{mark}] {result.name}: {result.detail}")
        if result.fix and (not result.ok or result.warning):
            lines.append(f"       fix: {result.fix}")
    failures = sum(not r.ok for r in results)
    lines.append("all checks passed" if not failures else f"{failures} problem(s) found; run the fix commands above, then: calf-assistant doctor")
    return "\n".join(lines)


def doctor_command(args, settings: Settings | ConfigError) -> int:
    results = run_checks(settings)
    if getattr(args, "json", False):
        print(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1), flush=True)
    else:
        print(format_checklist(results), flush=True)
    return 0 if all(r.ok for r in results) else 1
