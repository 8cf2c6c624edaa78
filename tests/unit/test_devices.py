"""Device choice, the queue-only callback and muting, with a fake PortAudio (no hardware needed)."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from assistant.devices import (
    INPUT,
    OUTPUT,
    Device,
    Microphone,
    Speaker,
    has_microphone,
    list_devices,
    pick_device,
    quiet_native_output,
)
from assistant.errors import DeviceError

DEVICES = [
    {"index": 0, "name": "bcm2835 Headphones", "max_input_channels": 0, "max_output_channels": 8, "default_samplerate": 44100.0},
    {"index": 1, "name": "USB PnP Sound Device: Audio (hw:2,0)", "max_input_channels": 1, "max_output_channels": 2, "default_samplerate": 48000.0},
    {"index": 2, "name": "pulse", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
    {"index": 3, "name": "default", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
]


class FakeStream:
    def __init__(self, backend, **kwargs):
        self.backend, self.kwargs, self.active, self.written = backend, kwargs, False, []
        if backend.busy:
            raise backend.PortAudioError("Device unavailable [PaErrorCode -9985]")

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        self.active = False

    def write(self, data):
        self.written.append(data.copy())

    def deliver(self, block: np.ndarray):
        """What PortAudio does on its own thread."""
        frames = block.shape[0]
        self.kwargs["callback"](block, frames, None, None)


class FakeSoundDevice:
    class PortAudioError(Exception):
        pass

    def __init__(self, devices=DEVICES, rates=(16000, 44100, 48000), busy=False):
        self.devices, self.rates, self.busy, self.streams = devices, rates, busy, []

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return self.devices
        return self.devices[device if device is not None else 3]

    def check_input_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        if samplerate not in self.rates:
            raise self.PortAudioError("Invalid sample rate")

    check_output_settings = check_input_settings

    def InputStream(self, **kwargs):
        stream = FakeStream(self, **kwargs)
        self.streams.append(stream)
        return stream

    OutputStream = InputStream


def fake_list():
    return list_devices(FakeSoundDevice())


def test_devices_are_chosen_by_index():
    assert pick_device("1", fake_list(), INPUT).name.startswith("USB PnP")
    assert pick_device(2, fake_list(), OUTPUT).name == "pulse"


def test_devices_are_chosen_by_a_name_fragment_case_insensitively():
    assert pick_device("usb pnp", fake_list(), INPUT).index == 1
    assert pick_device("headphones", fake_list(), OUTPUT).index == 0


def test_an_exact_name_wins_over_a_fragment():
    devices = [Device(0, "default mic array", 2, 0, 48000), Device(1, "default", 2, 0, 48000)]
    assert pick_device("default", devices, INPUT).index == 1


def test_empty_means_the_system_default():
    assert pick_device("", fake_list(), INPUT) is None


def test_a_speaker_only_device_is_not_a_microphone():
    with pytest.raises(DeviceError, match="no microphone is called 'headphones'"):
        pick_device("headphones", fake_list(), INPUT)
    with pytest.raises(DeviceError, match="no microphone number 0"):
        pick_device("0", fake_list(), INPUT)


def test_the_error_lists_what_is_connected_in_one_line():
    with pytest.raises(DeviceError) as caught:
        pick_device("blue yeti", fake_list(), INPUT)
    message = str(caught.value)
    assert "\n" not in message and "1 USB PnP" in message and "audio.input_device" in message


def test_no_devices_means_no_microphone():
    assert not has_microphone(sd=FakeSoundDevice(devices=[]))
    assert not has_microphone(sd=FakeSoundDevice(devices=DEVICES[:1]))
    assert has_microphone(sd=FakeSoundDevice())
    assert not has_microphone("blue yeti", sd=FakeSoundDevice())


def test_the_callback_only_queues_a_copy():
    backend = FakeSoundDevice()
    with Microphone("usb", sd=backend) as microphone:
        stream = backend.streams[-1]
        block = np.arange(1600, dtype=np.int16).reshape(-1, 1)
        stream.deliver(block)
        block[:] = 0  # PortAudio reuses its buffer after the callback returns
        assert microphone._queue.qsize() == 1
        got = microphone.read(timeout=0.1)
    assert np.array_equal(got, np.arange(1600, dtype=np.int16))


def test_16k_mono_is_used_when_offered_otherwise_blocks_are_resampled():
    backend = FakeSoundDevice(rates=(48000,))
    with Microphone("usb", sd=backend) as microphone:
        stream = backend.streams[-1]
        assert stream.kwargs["samplerate"] == 48000
        stream.deliver(np.zeros((4800, 1), dtype=np.int16))
        got = microphone.read(timeout=0.1)
    assert got.dtype == np.int16 and got.ndim == 1 and len(got) == 1600


def test_mute_drops_what_was_captured_during_playback_and_a_tail():
    backend = FakeSoundDevice()
    with Microphone(sd=backend, echo_tail=0.2) as microphone:
        stream = backend.streams[-1]
        loud = np.full((1600, 1), 9000, dtype=np.int16)
        with microphone.muted():
            stream.deliver(loud)
            assert microphone.read(timeout=0.05) is None
            stream.deliver(loud)  # still queued when playback ends
        assert microphone._queue.qsize() == 0, "unmute flushes the queue"
        stream.deliver(loud)  # the echo tail
        assert microphone.read(timeout=0.05) is None
        time.sleep(0.25)
        stream.deliver(loud)
        assert microphone.read(timeout=0.05) is not None


def test_a_full_queue_drops_blocks_instead_of_blocking_the_audio_thread():
    backend = FakeSoundDevice()
    with Microphone(sd=backend, max_queued_seconds=0.3) as microphone:
        for _ in range(5):
            backend.streams[-1].deliver(np.zeros((1600, 1), dtype=np.int16))
        assert microphone.dropped == 2


def test_a_busy_device_is_one_line_naming_the_fix():
    with pytest.raises(DeviceError) as caught:
        Microphone("usb", sd=FakeSoundDevice(busy=True)).open()
    message = str(caught.value)
    assert "USB PnP" in message and "Device unavailable" in message and "\n" not in message


def test_a_device_that_stops_sending_is_reported():
    backend = FakeSoundDevice()
    microphone = Microphone(sd=backend, stall_seconds=0.3).open()
    blocks = microphone.blocks()
    backend.streams[-1].deliver(np.zeros((1600, 1), dtype=np.int16))
    assert next(blocks) is not None
    with pytest.raises(DeviceError, match="stopped sending sound"):
        next(blocks)


def test_a_stream_moved_to_a_source_of_digital_silence_is_reported():
    """The sound server lost the microphone and moved the stream to a speaker's monitor: blocks
    still come, every sample exactly zero. A live microphone's quiet room never is."""
    backend = FakeSoundDevice()
    microphone = Microphone(sd=backend, stall_seconds=5.0, dead_seconds=0.3).open()
    stream = backend.streams[-1]
    blocks = microphone.blocks()
    room = np.random.default_rng(1).normal(0, 4, (1600, 1)).astype(np.int16)
    for _ in range(3):  # a quiet room goes on being heard
        stream.deliver(room)
        time.sleep(0.15)
        assert next(blocks) is not None
    with pytest.raises(DeviceError, match="only digital silence") as caught:
        while True:
            stream.deliver(np.zeros((1600, 1), dtype=np.int16))
            time.sleep(0.05)
            next(blocks)
    assert "\n" not in str(caught.value) and not microphone.is_open


def test_a_stream_delivered_from_another_thread_reaches_the_reader():
    backend = FakeSoundDevice()
    with Microphone(sd=backend) as microphone:
        stream = backend.streams[-1]
        threading.Thread(target=lambda: [stream.deliver(np.ones((1600, 1), dtype=np.int16)) for _ in range(3)]).start()
        got = [next(microphone.blocks()) for _ in range(3)]
    assert sum(len(block) for block in got) == 4800


def test_the_speaker_plays_chunks_in_order_and_resamples_unsupported_rates():
    backend = FakeSoundDevice(rates=(44100,))
    Speaker("pulse", sd=backend).play_all([(np.ones(22050, dtype=np.int16), 22050), (np.ones(100, dtype=np.int16), 22050)])
    stream = backend.streams[-1]
    assert stream.kwargs["samplerate"] == 44100 and stream.kwargs["device"] == 2
    assert abs(sum(len(chunk) for chunk in stream.written) - 44300) < 50


def test_native_output_is_hidden_and_restored(capfd):
    with quiet_native_output():
        os.write(1, b"ALSA lib pcm.c: noise\n")
        os.write(2, b"espeak chatter\n")
    print("after", flush=True)
    sys.stderr.write("still here\n")
    out, err = capfd.readouterr()
    assert out == "after\n" and err == "still here\n"
