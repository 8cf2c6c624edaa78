"""Speech recognition on a stronger machine at home, over the Wyoming protocol.

A Raspberry Pi in the hall can send each utterance to a wyoming-faster-whisper service with a
larger Whisper model (the way up for Indonesian). The person must never be left unheard because
that machine is asleep: when the service cannot be reached or does not answer in time, the
utterance is heard by the local engine at once, one line says why, and the service is tried again
only after a back-off (so a switched-off server does not cost every turn a timeout).

These are the only connections the assistant opens at run time, and only to the configured address.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import numpy as np

from assistant.errors import ModelError
from assistant.recognition.interface import SAMPLE_RATE, Transcript, hear_whole, normalise_text
from assistant.wyoming_link import BackOff, Unavailable, describe, read_answer, tcp_address

log = logging.getLogger(__name__)

CHUNK_SAMPLES = SAMPLE_RATE // 10
"""Audio goes out in 0.1 s chunks, as a satellite streams it."""


class _BrokeOff(Exception):
    """The service hung up before it answered."""


def _address(uri: str) -> tuple[str, int]:
    address = tcp_address(uri)
    if address is None:
        raise ModelError(f"recognition.uri '{uri}' is not a Wyoming address like tcp://192.168.1.20:10300")
    return address


async def _transcribe(uri: str, samples: np.ndarray, language: str) -> str:
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient

    host, port = _address(uri)
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    step = CHUNK_SAMPLES * 2
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=SAMPLE_RATE, width=2, channels=1).event())
        for start in range(0, len(pcm), step):
            await client.write_event(AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm[start:start + step]).event())
        await client.write_event(AudioStop().event())
        heard = await read_answer(client, Transcript, _BrokeOff, "it closed the connection before it answered")
        return heard.text or ""


def transcribe_remote(uri: str, samples: np.ndarray, language: str, timeout: float) -> str:
    """The service's transcript; raises ModelError with a caregiver's reason when it fails."""
    try:
        return asyncio.run(asyncio.wait_for(_transcribe(uri, samples, language), timeout))
    except asyncio.TimeoutError:
        raise ModelError(f"the speech service at {uri} did not answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise ModelError(f"the speech service at {uri} is not running (connection refused)") from None
    except (_BrokeOff, ConnectionResetError, BrokenPipeError) as error:
        raise ModelError(f"the speech service at {uri} stopped mid-utterance ({error or 'connection reset'})") from None
    except OSError as error:
        raise ModelError(f"the speech service at {uri} cannot be reached ({error.strerror or error})") from None


def asr_languages(uri: str, timeout: float = 5.0) -> set[str]:
    """The languages a Wyoming speech-to-text service offers (its `describe`), for doctor."""
    try:
        info = describe(uri, timeout)
    except Unavailable as error:
        raise ModelError(f"the speech service at {uri}: {error}") from None
    return {language for program in info.asr for model in program.models for language in model.languages}


class WyomingRecogniser:
    """A Wyoming service first, the local recogniser whenever the service fails.

    Follows the Recogniser protocol of assistant.recognition: audio is collected with accept() and
    sent whole at finish() (the service hears an utterance once it is over, as Whisper does).
    """

    def __init__(self, uri: str, language: str, local_factory, timeout: float = 20.0, clock=time.monotonic):
        self.uri = uri
        self.language = language
        self.timeout = timeout
        self._local_factory = local_factory
        self._local = None
        self._back_off = BackOff(clock)
        self._buffer: list[np.ndarray] = []

    # ---- the Recogniser protocol -------------------------------------------------------------

    def accept(self, samples: np.ndarray):
        self._buffer.append(np.asarray(samples, dtype=np.int16))
        return None

    def finish(self):
        samples = np.concatenate(self._buffer) if self._buffer else np.zeros(0, np.int16)
        self._buffer = []
        return self.transcribe(samples)

    def set_grammar(self, phrases):
        """The service hears freely; the dialogue reads answers from the words as for free speech."""

    def reset(self) -> None:
        self._buffer = []

    # ---- hearing -----------------------------------------------------------------------------

    def transcribe(self, samples: np.ndarray):
        if self._back_off.ready():
            try:
                text = transcribe_remote(self.uri, samples, self.language, self.timeout)
            except ModelError as error:
                self._fail(error)
            else:
                self._back_off.succeeded()
                text = normalise_text(text)
                return Transcript(text, 1.0 if text else 0.0, True)
        return self._local_transcribe(samples)

    def _fail(self, error: ModelError) -> None:
        wait = self._back_off.failed()
        print(f"calf-assistant: {error}; hearing with this device's own recogniser, "
              f"trying the service again in {wait:g} s", file=sys.stderr, flush=True)
        log.warning("remote recognition failed: %s", error)

    def _local_transcribe(self, samples: np.ndarray):
        if self._local is None:
            self._local = self._local_factory()
        return hear_whole(self._local, samples)
