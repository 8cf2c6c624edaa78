"""A voice on a Wyoming text-to-speech service (wyoming-piper on a machine at home).

Each sentence is sent as `synthesize` and comes back as audio-start, audio-chunks, audio-stop.
The service's voice is chosen per language from its `describe`: the first of the caregiver's
voices (synthesis.voice, one name or several joined by commas) that speaks the language, else the
first the service lists for it, so an Indonesian reply is never read out by an English voice; a
service with no voice for a language leaves that language to the device's own voices.
When the service cannot be reached or does not answer in time, SynthesisError is raised and the
voice hands over to espeak-ng at once (assistant.synthesis.voices), so nobody waits in silence.
Unlike a damaged local model, a service comes back (the machine at home is switched on again), so
the voice tries it again in the background after a back-off (voices.recovers).
"""

from __future__ import annotations

import asyncio
import numpy as np

from assistant.errors import SynthesisError
from assistant.synthesis.natural import to_int16
from assistant.synthesis.profile import VoiceProfile
from assistant.wyoming_link import Unavailable, describe, speaks, tcp_address

TIMEOUT = 10.0
"""Seconds a sentence may take to arrive before espeak-ng says it instead."""


class _BrokeOff(Exception):
    """The service hung up before the audio ended (wyoming-piper does when a voice will not load)."""


async def _synthesize(host: str, port: int, text: str, voice: str) -> tuple[bytes, int, int]:
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.tts import Synthesize, SynthesizeVoice

    pcm, rate, width = bytearray(), 0, 2
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event())
        while True:
            event = await client.read_event()
            if event is None:
                raise _BrokeOff()
            if AudioStart.is_type(event.type):
                start = AudioStart.from_event(event)
                rate, width = start.rate, start.width
            elif AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                rate, width = chunk.rate, chunk.width
                pcm += chunk.audio
            elif AudioStop.is_type(event.type):
                return bytes(pcm), rate, width


class WyomingEngine:
    name = "wyoming"

    def __init__(self, uri: str, voice: str = "", timeout: float = TIMEOUT):
        address = tcp_address(uri)
        if address is None:
            raise SynthesisError(f"synthesis.uri '{uri}' is not a Wyoming address like tcp://192.168.1.20:10200")
        self.uri, self.voice, self.timeout = uri, voice, timeout
        self._host, self._port = address
        self.label = f"wyoming {uri}" + (f" {voice}" if voice else "")
        self._voices: dict[str, str] = {}
        """language -> the service's voice for it, asked once."""

    def voice_for(self, language: str) -> str:
        if not language:  # no language to go by: the first voice named, or the service's default
            return self.voice.split(",")[0].strip()
        if language not in self._voices:
            self._voices[language] = self._choose(language)
        return self._voices[language]

    def _choose(self, language: str) -> str:
        try:
            info = describe(self.uri, self.timeout)
        except Unavailable as error:
            raise SynthesisError(f"the voice service at {self.uri}: {error}") from None
        offered = {voice.name: voice.languages for program in info.tts for voice in program.voices}
        named = [name.strip() for name in self.voice.split(",") if name.strip()]
        for name in named:
            if name in offered and speaks(offered[name], language):
                return name
        # A service that lists no voices, or a voice it does not list (a custom model), is the
        # caregiver's own call: it cannot be checked, so it is used as given.
        unlisted = [name for name in named if name not in offered]
        if not offered or unlisted:
            return unlisted[0] if unlisted else ""
        for name, codes in offered.items():
            if speaks(codes, language):
                return name
        raise SynthesisError(f"the voice service at {self.uri} has no voice for language '{language}'")

    def render(self, text: str, profile: VoiceProfile):
        voice = self.voice_for(profile.language)
        try:
            pcm, rate, width = asyncio.run(asyncio.wait_for(
                _synthesize(self._host, self._port, text, voice), self.timeout))
        except asyncio.TimeoutError:
            raise SynthesisError(f"the voice service at {self.uri} did not answer within {self.timeout:g} s") from None
        except _BrokeOff:
            raise SynthesisError(f"the voice service at {self.uri} broke off before the audio of voice "
                                 f"'{voice or 'default'}' ended (is that voice installed there?)") from None
        except OSError as error:
            raise SynthesisError(f"the voice service at {self.uri} cannot be reached ({error})") from None
        if width != 2 or not rate or not pcm:
            raise SynthesisError(f"the voice service at {self.uri} sent no usable audio")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        # The same loudness as every other engine, scaled by the person's "louder".
        return to_int16(audio, profile.volume, rate), rate
