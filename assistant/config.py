"""Settings: one TOML file in the XDG config folder, validated, with environment and flag overrides.

The file is what a caregiver edits (or the setup wizard writes). Every problem is reported as one
line naming the file, the key and what is expected, so it can be fixed without reading code.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import tomli_w

from assistant.cleaning import settings_problems as cleaning_problems
from assistant.errors import ConfigError

APP_NAME = "calf-assistant"
SETTINGS_VERSION = 1
LANGUAGES = ("en", "id")
LANGUAGE_CHOICES = ("en", "id", "auto")
ACTIVATIONS = ("enter", "button", "wake")
VOICE_ENGINES = ("", "hibari", "piper", "espeak")
ALERT_LEVELS = ("urgent", "emergency")


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says relative paths in these variables are invalid and must be ignored.
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / APP_NAME


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_home() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_home() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state")


def default_config_path() -> Path:
    override = os.environ.get("CALF_ASSISTANT_CONFIG")
    return Path(override) if override else config_dir() / "config.toml"


@dataclass(frozen=True)
class EmergencySettings:
    en: tuple[str, ...] = ("112",)
    """Numbers spoken in English urgent and emergency replies (112 EU, 911 US, 999 UK)."""

    id: tuple[str, ...] = ("112", "119")
    """Numbers spoken in Indonesian replies: 112 (general) and 119 (PSC 119 medical)."""


@dataclass(frozen=True)
class VoiceSettings:
    rate: float = 1.0
    """Speaking speed relative to the voice profile in voices/ (0.5 slower .. 1.5 faster)."""

    volume: float = 1.0
    """Loudness from 0.1 to 1.0."""

    engine: str = ""
    """The voice: hibari, piper or espeak; empty for the language's own preference (voices/<lang>.toml)."""


@dataclass(frozen=True)
class AudioSettings:
    input_device: str = ""
    """Microphone by name fragment or index; empty for the system default."""

    output_device: str = ""
    """Speaker by name fragment or index; empty for the system default."""

    end_of_speech_silence: float = 1.2
    """Seconds of quiet that end an utterance; older speakers pause, so keep this generous."""

    max_utterance: float = 20.0
    """Longest utterance in seconds before listening stops anyway."""

    noise_suppression: int = 0
    """WebRTC noise suppression of the microphone's sound, 0 (off) to 4 (strongest). Off by
    default: in pink noise 5 dB under the voice, level 2 helped English descriptions a little but
    Indonesian short answers were heard worse (more yes/no swaps), and levels 1, 3 and 4 did no
    better (docs/measurements.md, 2026-12-07). Worth trying on a windy walk, checked with doctor."""

    auto_gain: int = 0
    """WebRTC automatic gain, 0 (off) or 1..31: the loudness aimed for, in dB below full scale."""


@dataclass(frozen=True)
class ActivationSettings:
    mode: str = "enter"
    """How the live loop starts listening: enter (Enter key), button (GPIO) or wake (a wake word)."""

    wake_word: str = "okay_nabu"
    """The built-in wake word when mode is wake: okay_nabu, hey_jarvis, alexa, hey_mycroft (and
    hey_rhasspy with wake_engine = "open")."""

    wake_engine: str = "micro"
    """micro (microWakeWord, the lightest), open (openWakeWord), or phrase (the recogniser listens
    for wake_phrase, in the person's own language, at a far higher cost on a Pi)."""

    wake_model: str = ""
    """A custom wake-word model instead of the built-in ones: its .json (micro) or .tflite (open)."""

    wake_phrase: str = ""
    """Phrase that starts listening when wake_engine is phrase, e.g. "halo betis"; empty uses the default."""

    gpio_pin: int = 17
    """BCM pin of the push button when mode is button."""


@dataclass(frozen=True)
class DiarySettings:
    enabled: bool = True
    """Keep a local record of finished conversations for the caregiver."""

    keep_audio: bool = False
    """Also keep recordings of what was said (off by default for privacy)."""


@dataclass(frozen=True)
class RecognitionSettings:
    engine: str = ""
    """"" for the voice profile's own engine, or "wyoming" for a Wyoming speech-to-text service
    (wyoming-faster-whisper on a stronger machine at home); the local engine stays the fallback."""

    uri: str = ""
    """The service's address, e.g. tcp://192.168.1.20:10300 (only used with engine = "wyoming")."""

    timeout: float = 20.0
    """Seconds to wait for the service before hearing with the local engine instead."""


@dataclass(frozen=True)
class SynthesisSettings:
    engine: str = ""
    """"" for this device's own voices, or "wyoming" for a Wyoming text-to-speech service
    (wyoming-piper at home); espeak-ng speaks whenever the service cannot."""

    uri: str = ""
    """The service's address, e.g. tcp://192.168.1.20:10200 (only used with engine = "wyoming")."""

    voice: str = ""
    """The service's voice name (e.g. en_US-lessac-medium); empty for its default."""


@dataclass(frozen=True)
class AlertSettings:
    level: str = "urgent"
    """The lowest triage level that tells the caregiver: urgent or emergency."""

    mqtt_uri: str = ""
    """The MQTT broker, like mqtt://user:pass@host:1883 (mqtts:// for TLS); empty: no MQTT."""

    mqtt_topic: str = "calf-assistant"
    """Alerts go to <topic>/alert, and whether the assistant is running to <topic>/status."""

    mqtt_ca_file: str = ""
    """The CA certificate that signed the broker's TLS certificate; empty: the system's CAs."""

    discovery_prefix: str = "homeassistant"
    """Home Assistant's MQTT discovery prefix; empty: announce nothing."""

    webhook_url: str = ""
    """An address that gets a POST of the same JSON (an ntfy topic, a Home Assistant webhook, ...)."""

    include_words: bool = False
    """Put what the person said into the alert (off by default: it is health information)."""

    late_after: float = 3600.0
    """Seconds after which an alert still waiting is sent marked late."""

    retry_max: float = 60.0
    """The longest wait in seconds between two tries of an unsent alert (the wait doubles up to it)."""

    @property
    def enabled(self) -> bool:
        return bool(self.mqtt_uri or self.webhook_url)


@dataclass(frozen=True)
class Settings:
    language: str = "en"
    """Language spoken to the assistant: en, id or auto (detected from the words)."""

    mid_walk: bool = False
    """Short first sentences (under 12 words) for use while walking."""

    debug: bool = False
    """Write symptom text to the log file (off by default for privacy)."""

    version: int = SETTINGS_VERSION
    """Settings format version, used to migrate files written by older releases."""

    emergency: EmergencySettings = field(default_factory=EmergencySettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)
    diary: DiarySettings = field(default_factory=DiarySettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    synthesis: SynthesisSettings = field(default_factory=SynthesisSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def emergency_numbers(self, language: str) -> tuple[str, ...]:
        return getattr(self.emergency, language)


def _check_value(where: str, value: Any, expected: Any) -> Any:
    origin = get_origin(expected)
    if origin is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where} must be a list of texts, like [\"112\", \"119\"]")
        return tuple(value)
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number")
        return float(value)
    if expected is str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be text in quotes")
        return value
    raise AssertionError(f"unsupported settings type {expected!r}")  # pragma: no cover


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in table.items():
        expected = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(expected):
            values[name] = _build(expected, value, key)
        else:
            values[name] = _check_value(key, value, expected)
    return cls(**values)


def validate(settings: Settings, source: str = "settings") -> Settings:
    """Range and choice checks that types alone cannot express."""
    problems = []
    if settings.language not in LANGUAGE_CHOICES:
        problems.append(f"language must be one of {', '.join(LANGUAGE_CHOICES)}, not '{settings.language}'")
    for language in LANGUAGES:
        numbers = settings.emergency_numbers(language)
        if not numbers:
            problems.append(f"emergency.{language} needs at least one emergency number")
        for number in numbers:
            if not number.replace(" ", "").isdigit():
                problems.append(f"emergency.{language}: '{number}' is not a phone number (digits only)")
    if settings.recognition.engine not in ("", "wyoming"):
        problems.append(f"recognition.engine must be \"wyoming\" or empty, not '{settings.recognition.engine}'")
    if settings.recognition.engine == "wyoming" and not settings.recognition.uri.startswith("tcp://"):
        problems.append("recognition.uri must be the Wyoming service's address, like tcp://192.168.1.20:10300")
    if settings.synthesis.engine not in ("", "wyoming"):
        problems.append(f"synthesis.engine must be \"wyoming\" or empty, not '{settings.synthesis.engine}'")
    if settings.synthesis.engine == "wyoming" and not settings.synthesis.uri.startswith("tcp://"):
        problems.append("synthesis.uri must be the Wyoming service's address, like tcp://192.168.1.20:10200")
    if not 0.5 <= settings.voice.rate <= 1.5:
        problems.append(f"voice.rate must be between 0.5 and 1.5, not {settings.voice.rate}")
    if not 0.1 <= settings.voice.volume <= 1.0:
        problems.append(f"voice.volume must be between 0.1 and 1.0, not {settings.voice.volume}")
    if settings.voice.engine not in VOICE_ENGINES:
        problems.append(f"voice.engine must be one of hibari, piper, espeak (or empty), not '{settings.voice.engine}'")
    if not 0.3 <= settings.audio.end_of_speech_silence <= 5.0:
        problems.append("audio.end_of_speech_silence must be between 0.3 and 5 seconds")
    if not 2.0 <= settings.audio.max_utterance <= 120.0:
        problems.append("audio.max_utterance must be between 2 and 120 seconds")
    problems += cleaning_problems(settings.audio.noise_suppression, settings.audio.auto_gain)
    if settings.activation.mode not in ACTIVATIONS:
        problems.append(f"activation.mode must be one of {', '.join(ACTIVATIONS)}")
    problems += wake_problems(settings.activation)
    problems += alert_problems(settings.alerts)
    if settings.version > SETTINGS_VERSION:
        problems.append(
            f"version {settings.version} was written by a newer calf-assistant; upgrade with ./scripts/setup"
        )
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")
    return settings


def wake_problems(activation: ActivationSettings) -> list[str]:
    """What is wrong with the wake-word settings; a model file itself is checked when it loads."""
    from assistant.wake import BUILT_IN, ENGINES

    if activation.wake_engine not in ENGINES:
        return [f"activation.wake_engine must be one of {', '.join(ENGINES)}, not '{activation.wake_engine}'"]
    words = BUILT_IN.get(activation.wake_engine)
    if words and not activation.wake_model and activation.wake_word not in words:
        return [f"activation.wake_word must be one of {', '.join(words)} with wake_engine = \"{activation.wake_engine}\" "
                f"(or set activation.wake_model), not '{activation.wake_word}'"]
    return []


def alert_problems(alerts: AlertSettings) -> list[str]:
    """What is wrong with the [alerts] table, each naming the setting and the fix."""
    from urllib.parse import urlsplit

    problems = []
    if alerts.level not in ALERT_LEVELS:
        problems.append(f"alerts.level must be urgent or emergency, not '{alerts.level}'")
    if alerts.mqtt_uri:
        try:
            parts = urlsplit(alerts.mqtt_uri)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            problems.append(f"alerts.mqtt_uri must look like mqtt://user:pass@host:1883 (mqtts:// for TLS), "
                            f"not '{_hidden_password(alerts.mqtt_uri)}'")
        elif port == 0:
            problems.append("alerts.mqtt_uri has port 0; use the broker's port, usually 1883 (8883 for mqtts)")
    if not alerts.mqtt_topic.strip("/") or any(mark in alerts.mqtt_topic for mark in "#+"):
        problems.append(f"alerts.mqtt_topic must be a plain topic like calf-assistant (no # or +), not '{alerts.mqtt_topic}'")
    if any(mark in alerts.discovery_prefix for mark in "#+"):
        problems.append("alerts.discovery_prefix must be a plain topic, usually homeassistant")
    if alerts.webhook_url:
        try:
            parts = urlsplit(alerts.webhook_url)
            parts.port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"alerts.webhook_url must be an http:// or https:// address, not '{alerts.webhook_url}'")
    if alerts.late_after <= 0:
        problems.append("alerts.late_after must be more than 0 seconds (3600 is an hour)")
    if not 1.0 <= alerts.retry_max <= 3600.0:
        problems.append("alerts.retry_max must be between 1 and 3600 seconds")
    return problems


def _hidden_password(uri: str) -> str:
    """A URI fit for a message: the password replaced by stars."""
    head, at, tail = uri.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return uri
    scheme, _, user_password = head.rpartition("//")
    user = user_password.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}"


def _migrate(table: dict[str, Any]) -> dict[str, Any]:
    """Bring a file written by an older release up to the current format without losing answers."""
    table = dict(table)
    # Version 0 (before versions were written) kept a single emergency number at the top level.
    legacy_number = table.pop("emergency_number", None)
    if legacy_number is not None:
        numbers = [n.strip() for n in str(legacy_number).split(",") if n.strip()]
        emergency = dict(table.get("emergency", {}))
        emergency.setdefault("en", numbers)
        table["emergency"] = emergency
    table["version"] = SETTINGS_VERSION
    return table


def from_table(table: dict[str, Any], source: str = "settings") -> Settings:
    version = table.get("version", 0)
    if isinstance(version, int) and version > SETTINGS_VERSION:
        # Checked before the keys: a newer release's new keys would otherwise look like typos.
        raise ConfigError(
            f"{source}: settings version {version} was written by a newer calf-assistant "
            f"(this one reads up to {SETTINGS_VERSION}); upgrade with ./scripts/setup"
        )
    if version < SETTINGS_VERSION:
        table = _migrate(table)
    try:
        settings = _build(Settings, table, "")
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return validate(settings, source)


def _env_overrides(settings: Settings) -> Settings:
    language = os.environ.get("CALF_ASSISTANT_LANG")
    if language:
        settings = replace(settings, language=language)
    numbers = os.environ.get("CALF_ASSISTANT_EMERGENCY")
    if numbers:
        settings = with_emergency(settings, numbers)
    if os.environ.get("CALF_ASSISTANT_DEBUG") == "1":
        settings = replace(settings, debug=True)
    return validate(settings, "environment")


def with_emergency(settings: Settings, numbers: str | list[str], language: str | None = None) -> Settings:
    """Set the emergency numbers for one language, or for all when language is None."""
    parsed = _check_value("emergency numbers", numbers, tuple[str, ...])
    targets = [language] if language else list(LANGUAGES)
    emergency = replace(settings.emergency, **{lang: parsed for lang in targets})
    return replace(settings, emergency=emergency)


def load_settings(path: Path | None = None, *, use_environment: bool = True) -> Settings:
    """Read the settings file (defaults when it does not exist), then apply environment overrides."""
    path = path or default_config_path()
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"settings file {path} is not valid TOML ({error}); fix it or run 'calf-assistant setup'") from None
        except OSError as error:
            raise ConfigError(f"settings file {path} cannot be read ({error.strerror})") from None
        settings = from_table(table, str(path))
    else:
        settings = Settings()
    return _env_overrides(settings) if use_environment else settings


def to_table(settings: Settings) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return list(value)
        return value

    return {
        key: ({k: convert(v) for k, v in value.items()} if isinstance(value, dict) else convert(value))
        for key, value in dataclasses.asdict(settings).items()
    }


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically and privately: an interrupted write never leaves half a settings file."""
    path = path or default_config_path()
    validate(settings, str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(handle, "wb") as stream:
            tomli_w.dump(to_table(settings), stream)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
