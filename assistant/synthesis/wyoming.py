"""A voice on a Wyoming text-to-speech service (wyoming-piper on a machine at home).

Each sentence is sent as `synthesize` and comes back as audio-start, audio-chunks, audio-stop.
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
from assistant.wyoming_link import tcp_address

TIMEOUT = 10.0
"""Seconds a sentence may take to arrive before espeak-ng says it instead."""


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
                raise ConnectionError("the service closed the connection before the audio ended")
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

    def render(self, text: str, profile: VoiceProfile):
        try:
            pcm, rate, width = asyncio.run(asyncio.wait_for(
                _synthesize(self._host, self._port, text, self.voice), self.timeout))
        except asyncio.TimeoutError:
            raise SynthesisError(f"the voice service at {self.uri} did not answer within {self.timeout:g} s") from None
        except (OSError, ConnectionError) as error:
            raise SynthesisError(f"the voice service at {self.uri} cannot be reached ({error})") from None
        if width != 2 or not rate or not pcm:
            raise SynthesisError(f"the voice service at {self.uri} sent no usable audio")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        # The same loudness as every other engine, scaled by the person's "louder".
        return to_int16(audio, profile.volume, rate), rate
