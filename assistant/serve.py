"""`calf-assistant serve`: a Wyoming service that Home Assistant can use as a conversation agent.

Home Assistant's Wyoming integration sends one `transcript` per utterance (its `context` carries
the conversation id) and speaks the `handled` text. It does not continue a conversation by itself
for such agents (the person says the wake word again before each answer), so the service keeps
one dialogue per conversation id: the same Conversation the live loop runs, so a danger sign is
handled exactly as in `run`. A conversation left silent for `idle_seconds` is closed into the
diary like an unfinished `run` conversation.

Wyoming has no authentication: the service listens on 127.0.0.1 unless the caregiver chooses an
address on the home network.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from assistant import __version__
from assistant.chat import Conversation
from assistant.config import Settings
from assistant.errors import InputError
from assistant.knowledge import LANGUAGES, load_knowledge

log = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10500"
IDLE_SECONDS = 300.0
"""Home Assistant keeps a conversation id for about five minutes of silence; so do we."""
PROGRAM = "calf-assistant"
ATTRIBUTION_URL = ""
"""No public home page yet; Home Assistant shows the name alone."""


def spoken_language(tag: str | None, fallback: str) -> str:
    """'en-US', 'id_ID' or 'id' to a language the knowledge has; anything else to the fallback."""
    code = (tag or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else fallback


@dataclass
class _Open:
    conversation: Conversation
    last_heard: float


@dataclass
class Conversations:
    """One Conversation per conversation id, closed into the diary after a silence."""

    settings: Settings
    idle_seconds: float = IDLE_SECONDS
    clock: object = time.monotonic
    open: dict[str, _Open] = field(default_factory=dict)

    def reply(self, conversation_id: str, text: str, language: str) -> str:
        self.close_idle()
        now = self.clock()
        current = self.open.get(conversation_id)
        if current is None:
            settings = replace(self.settings, language=language)
            current = self.open[conversation_id] = _Open(Conversation(settings), now)
            log.info("conversation %s opened (%s)", conversation_id, language)
        current.last_heard = now
        return current.conversation(text)

    def close_idle(self) -> None:
        now = self.clock()
        for conversation_id, current in list(self.open.items()):
            if now - current.last_heard >= self.idle_seconds:
                self.close(conversation_id)

    def close(self, conversation_id: str) -> None:
        current = self.open.pop(conversation_id, None)
        if current is not None:
            current.conversation.close()
            log.info("conversation %s closed", conversation_id)

    def close_all(self) -> None:
        for conversation_id in list(self.open):
            self.close(conversation_id)


def service_info():
    """What `describe` answers: one handle program with a model per language."""
    from wyoming.info import Attribution, HandleModel, HandleProgram, Info

    attribution = Attribution(name="calf-assistant", url=ATTRIBUTION_URL)
    names = {code: load_knowledge().pack(code).language.name for code in LANGUAGES}
    models = [
        HandleModel(
            name=f"{PROGRAM}-{code}", languages=[code], attribution=attribution, installed=True,
            description=f"calf cramps and pain while walking ({names[code]})", version=__version__,
        )
        for code in LANGUAGES
    ]
    program = HandleProgram(
        name=PROGRAM, models=models, attribution=attribution, installed=True,
        description="Offline companion for calf cramps or pain while walking", version=__version__,
    )
    return Info(handle=[program])


def _handler_class():
    from wyoming.asr import Transcript
    from wyoming.event import Event
    from wyoming.handle import Handled, NotHandled
    from wyoming.info import Describe
    from wyoming.server import AsyncEventHandler

    class Handler(AsyncEventHandler):
        def __init__(self, conversations: Conversations, info, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conversations = conversations
            self.info_event = info.event()
            # A client that sends no conversation id still gets one dialogue for its connection.
            self.connection_id = f"connection-{uuid.uuid4().hex[:8]}"

        async def handle_event(self, event: Event) -> bool:
            if Describe.is_type(event.type):
                await self.write_event(self.info_event)
                return True
            if not Transcript.is_type(event.type):
                return True
            transcript = Transcript.from_event(event)
            context = dict(transcript.context or {})
            conversation_id = str(context.get("conversation_id") or self.connection_id)
            settings = self.conversations.settings
            language = spoken_language(transcript.language, settings.language if settings.language in LANGUAGES else "en")
            pack = load_knowledge().pack(language)
            text = (transcript.text or "").strip()
            if not text:
                await self.write_event(NotHandled(text=pack.reply("empty_input"), context=context).event())
                return True
            try:
                reply = self.conversations.reply(conversation_id, text, language)
            except InputError:
                await self.write_event(NotHandled(text=pack.reply("unreadable_input"), context=context).event())
                return True
            context["conversation_id"] = conversation_id
            await self.write_event(Handled(text=reply, context=context).event())
            return True

    return Handler


async def serve(uri: str, settings: Settings, *, idle_seconds: float = IDLE_SECONDS, zeroconf: str | None = None,
                ready=None) -> None:
    from functools import partial

    from wyoming.server import AsyncServer

    from assistant import alerts

    conversations = Conversations(settings, idle_seconds)
    alerts.start(settings, announce=True)  # a service that runs for days says so, as `run` does
    server = AsyncServer.from_uri(uri)
    handler = partial(_handler_class(), conversations, service_info())
    advertised = await _advertise(uri, zeroconf) if zeroconf is not None else None

    async def close_silent_conversations():
        while True:
            await asyncio.sleep(min(idle_seconds, 30.0))
            conversations.close_idle()

    sweeper = asyncio.create_task(close_silent_conversations())
    try:
        if ready is not None:
            ready()
        # SIGTERM stops the server cleanly (wyoming registers it), so open conversations reach the diary.
        await server.run(handler)
    finally:
        sweeper.cancel()
        conversations.close_all()
        if advertised is not None:
            await _withdraw(advertised)


_ANY_ADDRESS = ("", "0.0.0.0", "::")
SERVICE_TYPE = "_wyoming._tcp.local."
"""The mDNS type Home Assistant's Wyoming integration discovers."""


def _home_network_address() -> str:
    """The address this device is reached by on the home network: the one a packet to the mDNS
    group would leave from (nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))
        return probe.getsockname()[0]


async def _advertise(uri: str, name: str):
    """Zeroconf lets Home Assistant discover the service: an optional extra (`discovery`, LGPL), so
    without it, or when the network will not carry it, one line says so and the service still runs.
    Returns (zeroconf, service) for _withdraw, or None."""
    try:
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
    except ImportError:
        log.warning("zeroconf is not installed; not advertising the service")
        print("calf-assistant: zeroconf is not installed (CALF_SETUP_EXTRAS=speech,models,discovery ./scripts/setup); "
              "Home Assistant must be given the address by hand", file=sys.stderr)
        return None
    parsed = urlparse(uri)
    if parsed.scheme != "tcp":
        print(f"calf-assistant: only a tcp:// address can be advertised, not {uri}", file=sys.stderr)
        return None
    try:
        host = _home_network_address() if parsed.hostname in _ANY_ADDRESS else parsed.hostname
        service = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=parsed.port,
                                   addresses=[socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)])
        zeroconf = AsyncZeroconf()
        await zeroconf.async_register_service(service)
    except Exception as error:  # discovery is a convenience; the service works without it
        log.warning("zeroconf advertisement failed: %s", error)
        print(f"calf-assistant: could not advertise the service on the network ({error})", file=sys.stderr)
        return None
    print(f"calf-assistant: advertised as '{name}' on {host}:{parsed.port} for Home Assistant",
          file=sys.stderr, flush=True)
    return zeroconf, service


async def _withdraw(advertised) -> None:
    """Say goodbye on the network, so Home Assistant does not keep offering a service that is gone."""
    zeroconf, service = advertised
    try:
        await zeroconf.async_unregister_service(service)
        await zeroconf.async_close()
    except Exception as error:  # shutting down either way
        log.warning("zeroconf goodbye failed: %s", error)


def serve_command(args, settings: Settings) -> int:
    uri = args.uri or DEFAULT_URI
    parsed = urlparse(uri)
    if parsed.scheme not in ("tcp", "unix", "stdio") or (parsed.scheme == "tcp" and not parsed.port):
        raise InputError(f"--uri {uri!r} is not a Wyoming address; use for example {DEFAULT_URI}")
    if parsed.scheme == "tcp" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"calf-assistant: serving on {uri}: Wyoming has no password, keep it on the home network only",
              file=sys.stderr)

    def ready():
        print(f"calf-assistant: serving Wyoming on {uri}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(uri, settings, idle_seconds=args.idle_seconds, zeroconf=args.zeroconf, ready=ready))
    except OSError as error:
        raise InputError(f"cannot listen on {uri}: {error.strerror or error}") from None
    except KeyboardInterrupt:
        pass
    return 0
