"""The two ends that touch hardware: the microphone and the speaker (sounddevice / PortAudio).

The PortAudio callback runs on a real-time thread; anything slow there (resampling, logging, the
recogniser) makes the device drop audio. So the callback only copies the block into a queue and all
work happens on the reading side. While the assistant speaks the microphone is muted: blocks are
dropped during playback and for a short tail after it (room echo, device latency), so the assistant
never hears, and answers, itself.

Every failure a caregiver can meet (no microphone, unplugged, busy, wrong name in the settings)
becomes one DeviceError line; the live loop prints it and retries with a back-off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from assistant.audio import TARGET_RATE, to_mono_16k
from assistant.errors import DeviceError

log = logging.getLogger(__name__)

INPUT, OUTPUT = "input", "output"
_FIX_INPUT = "check the cable, or set audio.input_device (calf-assistant doctor lists the devices)"
_FIX_OUTPUT = "check the cable, or set audio.output_device (calf-assistant doctor lists the devices)"


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Send what C libraries write to fds 1 and 2 (ALSA, espeak, pyttsx3 prints) to /dev/null.

    Python-level redirection does not reach C code, so the file descriptors themselves are swapped.
    Process-wide, hence a lock and short use: only around the calls known to chatter.
    """
    with _QUIET_LOCK:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = []
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            yield
            return
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull, fd)
                except OSError:
                    pass  # no such descriptor (a daemon without stdout): nothing to hide
            # Python-level prints too (pyttsx3 prints), for when sys.stdout is not fd 1 (tests, IDEs).
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            os.close(devnull)


_QUIET_LOCK = threading.RLock()


def backend():
    """sounddevice, imported on first use: it loads PortAudio, which probes every ALSA card."""
    try:
        with quiet_native_output():
            import sounddevice
    except OSError as error:
        raise DeviceError(f"the audio library PortAudio is missing ({error}); fix: sudo apt-get install -y libportaudio2") from None
    return sounddevice


def refresh(sd: Any = None) -> None:
    """Make PortAudio look for devices again (it keeps the list it found at start-up).

    Needed after a device was plugged in or the sound server restarted; a no-op for fake backends.
    """
    sd = sd or backend()
    terminate, initialize = getattr(sd, "_terminate", None), getattr(sd, "_initialize", None)
    if terminate and initialize:
        with quiet_native_output(), contextlib.suppress(Exception):
            terminate()
            initialize()


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    inputs: int
    """Most input channels (0: not a microphone)."""

    outputs: int
    default_rate: float

    def channels(self, kind: str) -> int:
        return self.inputs if kind == INPUT else self.outputs


def list_devices(sd: Any = None) -> list[Device]:
    sd = sd or backend()
    try:
        with quiet_native_output():
            found = list(sd.query_devices())
    except Exception as error:  # PortAudioError, or OSError from a broken ALSA setup
        raise DeviceError(f"cannot list the audio devices ({error})") from None
    return [
        Device(
            index=int(info.get("index", position)),
            name=str(info.get("name", "")),
            inputs=int(info.get("max_input_channels", 0)),
            outputs=int(info.get("max_output_channels", 0)),
            default_rate=float(info.get("default_samplerate", TARGET_RATE) or TARGET_RATE),
        )
        for position, info in enumerate(found)
    ]


def pick_device(spec: str | int | None, devices: list[Device], kind: str) -> Device | None:
    """The device the settings name (index or part of its name); None means the system default.

    A wrong name is an error rather than a silent fall-back to the default, because the default
    may be a different microphone across the room and the caregiver would never learn why.
    """
    spec = "" if spec is None else str(spec).strip()
    usable = [device for device in devices if device.channels(kind) > 0]
    what = "microphone" if kind == INPUT else "speaker"
    key = "audio.input_device" if kind == INPUT else "audio.output_device"
    if not spec:
        return None
    if spec.isdigit():
        for device in usable:
            if device.index == int(spec):
                return device
        raise DeviceError(f"there is no {what} number {spec} ({key}); {_available(usable)}")
    wanted = spec.lower()
    exact = [device for device in usable if device.name.lower() == wanted]
    partial = [device for device in usable if wanted in device.name.lower()]
    if exact or partial:
        return (exact or partial)[0]
    raise DeviceError(f"no {what} is called '{spec}' ({key}); {_available(usable)}")


def _available(devices: list[Device]) -> str:
    if not devices:
        return "none is connected"
    return "connected: " + ", ".join(f"{device.index} {device.name}" for device in devices[:8])


def has_microphone(spec: str = "", sd: Any = None) -> bool:
    """Is there a microphone we could open (the one in the settings, or any)?"""
    try:
        devices = list_devices(sd)
        if spec:
            return pick_device(spec, devices, INPUT) is not None
        return any(device.inputs > 0 for device in devices)
    except DeviceError:
        return False


def _device_error(what: str, error: Exception, fix: str) -> DeviceError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DeviceError(f"{what} ({reason}); {fix}")


class Microphone:
    """A microphone opened once and read block by block as 16 kHz mono int16.

    Use as a context manager; `blocks()` yields audio, `muted()` wraps the assistant's own speech.
    """

    def __init__(self, device: str = "", *, block_seconds: float = 0.1, echo_tail: float = 0.3,
                 stall_seconds: float = 3.0, dead_seconds: float = 5.0, max_queued_seconds: float = 30.0,
                 cleaner: Any = None, sd: Any = None):
        self.device = device
        self.cleaner = cleaner
        """An assistant.cleaning.SoundCleaner every block goes through after conversion, or None."""
        self.block_seconds = block_seconds
        self.echo_tail = echo_tail
        """Seconds after playback ends during which blocks are still dropped (echo, latency)."""
        self.stall_seconds = stall_seconds
        """No audio for this long means the device stopped (unplugged, server gone)."""
        self.dead_seconds = dead_seconds
        """Only exact zeros for this long mean it stopped too: a live microphone always hears some
        noise, while a sound server whose microphone went away moves the stream to another source
        (PulseAudio and PipeWire pick a speaker's monitor) that sends digital silence."""
        self._sd = sd
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(1, round(max_queued_seconds / block_seconds)))
        self._stream = None
        self._rate = TARGET_RATE
        self._channels = 1
        self._muted = False
        self._deaf_until = 0.0
        self.dropped = 0
        """Blocks lost because nobody read them (the queue was full); for the log and tests."""

    # -- the real-time side: nothing but a copy into the queue ----------------------------------

    def _on_block(self, indata, frames, time_info, status) -> None:
        try:
            self._queue.put_nowait(indata.copy())
        except queue.Full:
            self.dropped += 1

    # -- opening and closing ---------------------------------------------------------------------

    def open(self) -> "Microphone":
        sd = self._sd or backend()
        devices = list_devices(sd)
        if not any(device.inputs > 0 for device in devices):
            raise DeviceError(f"no microphone was found (none connected, or the sound server is not running); {_FIX_INPUT}")
        chosen = pick_device(self.device, devices, INPUT)
        index = chosen.index if chosen else None
        self._rate, self._channels = self._format(sd, index, chosen)
        try:
            with quiet_native_output():
                stream = sd.InputStream(device=index, samplerate=self._rate, channels=self._channels, dtype="int16",
                                        blocksize=int(self._rate * self.block_seconds), callback=self._on_block)
                stream.start()
        except Exception as error:  # PortAudioError: busy, unplugged, unsupported format
            raise _device_error(f"cannot open the microphone{_named(chosen)}", error, _FIX_INPUT) from None
        self._stream = stream
        log.info("microphone%s open at %d Hz, %d channel(s)", _named(chosen), self._rate, self._channels)
        return self

    def _format(self, sd: Any, index: int | None, chosen: Device | None) -> tuple[int, int]:
        """16 kHz mono when the device offers it (no resampling); else its own rate, resampled."""
        check = getattr(sd, "check_input_settings", None)
        if check is None:
            return TARGET_RATE, 1
        candidates = [(TARGET_RATE, 1)]
        rate = int(chosen.default_rate) if chosen else None
        if rate is None:
            with contextlib.suppress(Exception):
                rate = int(sd.query_devices(kind="input")["default_samplerate"])
        if rate:
            candidates += [(rate, 1), (rate, 2)]
        for candidate in candidates:
            try:
                with quiet_native_output():
                    check(device=index, samplerate=candidate[0], channels=candidate[1], dtype="int16")
                return candidate
            except Exception:
                continue
        return candidates[-1]  # let open() report the device's own complaint

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception), quiet_native_output():
                stream.stop()
                stream.close()

    def __enter__(self) -> "Microphone":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    # -- muting while the assistant speaks --------------------------------------------------------

    def mute(self) -> None:
        self._muted = True
        self.flush()

    def unmute(self) -> None:
        # Blocks recorded during playback may still sit in the queue or in the device buffer.
        self.flush()
        self._deaf_until = time.monotonic() + self.echo_tail
        self._muted = False

    @contextlib.contextmanager
    def muted(self) -> Iterator[None]:
        self.mute()
        try:
            yield
        finally:
            self.unmute()

    @property
    def is_muted(self) -> bool:
        return self._muted or time.monotonic() < self._deaf_until

    def flush(self) -> None:
        """Forget everything captured so far (e.g. while waiting for the Enter key)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    # -- the reading side -------------------------------------------------------------------------

    def read(self, timeout: float = 0.5) -> np.ndarray | None:
        """The next block as 16 kHz mono int16 (cleaned, with a cleaner), or None when none
        arrived (or it was muted)."""
        samples = self._next_samples(timeout)
        return None if samples is None else self._cleaned(samples)

    def _next_samples(self, timeout: float) -> np.ndarray | None:
        try:
            block = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if self.is_muted:
            return None
        return self.convert(block)

    def _cleaned(self, samples: np.ndarray) -> np.ndarray:
        return self.cleaner.clean(samples) if self.cleaner is not None else samples

    def convert(self, block: np.ndarray) -> np.ndarray:
        if self._rate == TARGET_RATE and block.ndim == 2 and block.shape[1] == 1:
            return block[:, 0].copy()
        return to_mono_16k(block, self._rate, self._channels)

    def blocks(self) -> Iterator[np.ndarray]:
        """Audio until the caller stops; DeviceError when the device stops sending (unplugged)."""
        if self._stream is None:
            self.open()
        silent_since = live_since = time.monotonic()
        while True:
            samples = self._next_samples(timeout=min(0.5, self.stall_seconds))
            if samples is not None:
                silent_since = time.monotonic()
                # Judged before cleaning: the suppressor may turn a quiet room into zeros, a device cannot.
                if samples.any():
                    live_since = silent_since
                elif silent_since - live_since > self.dead_seconds:
                    self.close()
                    raise DeviceError(f"the microphone sends only digital silence (unplugged, or the sound server "
                                      f"switched to another source); {_FIX_INPUT}")
                yield self._cleaned(samples)
                continue
            if self.is_muted:
                silent_since = live_since = time.monotonic()
                continue
            stream = self._stream
            stopped = stream is None or not getattr(stream, "active", True)
            if stopped or time.monotonic() - silent_since > self.stall_seconds:
                self.close()
                raise DeviceError(f"the microphone stopped sending sound (unplugged?); {_FIX_INPUT}")


def _named(device: Device | None) -> str:
    return f" '{device.name}'" if device else ""


class Speaker:
    """Plays int16 mono audio on the chosen output device, chunk after chunk without gaps."""

    def __init__(self, device: str = "", *, sd: Any = None):
        self.device = device
        self._sd = sd

    def play(self, samples: np.ndarray, rate: int) -> None:
        self.play_all([(samples, rate)])

    def play_all(self, chunks: Iterable[tuple[np.ndarray, int]]) -> None:
        """Play chunks as they come; the first starts before the next one exists."""
        sd = self._sd or backend()
        iterator = iter(chunks)
        first = next(iterator, None)
        if first is None:
            return
        devices = list_devices(sd)
        if not any(device.outputs > 0 for device in devices):
            raise DeviceError(f"no speaker was found (none connected, or the sound server is not running); {_FIX_OUTPUT}")
        chosen = pick_device(self.device, devices, OUTPUT)
        index = chosen.index if chosen else None
        rate = self._rate_for(sd, index, first[1])
        try:
            with quiet_native_output():
                stream = sd.OutputStream(device=index, samplerate=rate, channels=1, dtype="int16")
                stream.start()
        except Exception as error:
            raise _device_error(f"cannot open the speaker{_named(chosen)}", error, _FIX_OUTPUT) from None
        try:
            for samples, samples_rate in _chain(first, iterator):
                stream.write(_at_rate(samples, samples_rate, rate).reshape(-1, 1))
        except Exception as error:
            if isinstance(error, (DeviceError, KeyboardInterrupt)):
                raise
            raise _device_error(f"the speaker{_named(chosen)} stopped playing", error, _FIX_OUTPUT) from None
        finally:
            with contextlib.suppress(Exception), quiet_native_output():
                stream.stop()  # waits until the last buffer has been heard
                stream.close()

    def _rate_for(self, sd: Any, index: int | None, wanted: int) -> int:
        """The audio's own rate when the device takes it; else the device's default rate."""
        check = getattr(sd, "check_output_settings", None)
        if check is None:
            return wanted
        try:
            with quiet_native_output():
                check(device=index, samplerate=wanted, channels=1, dtype="int16")
            return wanted
        except Exception:
            with contextlib.suppress(Exception):
                return int(sd.query_devices(index if index is not None else None, "output")["default_samplerate"])
            return wanted


def _chain(first, rest):
    yield first
    yield from rest


def _at_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.int16).reshape(-1)
    if rate == target or samples.size == 0:
        return samples
    import soxr

    return soxr.resample(samples, rate, target).astype(np.int16)
