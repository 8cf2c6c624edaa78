"""WAV reading and conversion to 16 kHz mono: every layout a recorder writes, every way a file breaks."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.audio import TARGET_RATE, load_wav, to_mono_16k
from assistant.errors import AudioFileError

TONE_HZ = 440.0


def _tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * TONE_HZ * t)


def _riff(fmt_body: bytes, data: bytes, extra_chunk: bytes = b"") -> bytes:
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra_chunk
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _fmt(code: int, channels: int, rate: int, bits: int) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", code, channels, rate, rate * block, block, bits)


def _extensible(code: int, channels: int, rate: int, bits: int) -> bytes:
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return _fmt(0xFFFE, channels, rate, bits) + struct.pack("<HHIH", 22, bits, 0, code) + guid_tail


def _encode(samples: np.ndarray, bits: int, floating: bool) -> bytes:
    if floating:
        return samples.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return (samples * 127 + 128).round().astype(np.uint8).tobytes()
    if bits == 24:
        values = (samples * (2**23 - 1)).round().astype(np.int32)
        return b"".join(int(v).to_bytes(3, "little", signed=True) for v in values)
    dtype = "<i2" if bits == 16 else "<i4"
    return (samples * (2 ** (bits - 1) - 1)).round().astype(dtype).tobytes()


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * TARGET_RATE / len(samples))


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bits,floating,extensible", [
    (8, False, False), (16, False, False), (24, False, False), (32, False, False),
    (32, True, False), (64, True, False), (16, False, True), (32, True, True),
])
def test_every_layout_becomes_16k_mono_int16(tmp_path, rate, channels, bits, floating, extensible):
    mono = _tone(rate)
    frames = np.repeat(mono[:, None], channels, axis=1).reshape(-1)
    code = 3 if floating else 1
    fmt = _extensible(code, channels, rate, bits) if extensible else _fmt(code, channels, rate, bits)
    path = tmp_path / "tone.wav"
    path.write_bytes(_riff(fmt, _encode(frames, bits, floating), extra_chunk=b"LIST\x04\x00\x00\x00INFO"))
    samples = load_wav(path)
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert abs(len(samples) - TARGET_RATE * 0.5) <= 2
    assert abs(_dominant_hz(samples) - TONE_HZ) < 5
    assert 0.4 * 32767 < np.abs(samples).max() < 0.6 * 32767


def test_stdlib_written_wav_reads_back(tmp_path):
    path = tmp_path / "std.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((_tone(16000) * 32767).astype("<i2").tobytes())
    samples = load_wav(path)
    assert len(samples) == 8000


def test_stereo_with_speech_on_one_side_keeps_it(tmp_path):
    tone = _tone(16000)
    frames = np.stack([tone, np.zeros_like(tone)], axis=1)
    samples = to_mono_16k(frames, 16000)
    assert abs(_dominant_hz(samples) - TONE_HZ) < 5 and np.abs(samples).max() > 0.2 * 32767


def test_to_mono_16k_accepts_interleaved_int_and_float_blocks():
    tone = _tone(48000)
    interleaved = np.repeat((tone * 32767).astype(np.int16), 2)
    from_int = to_mono_16k(interleaved, 48000, channels=2)
    from_float = to_mono_16k(tone.astype(np.float32), 48000)
    assert from_int.dtype == from_float.dtype == np.int16
    assert len(from_int) == len(from_float) == 8000
    assert np.abs(from_int.astype(int) - from_float.astype(int)).max() < 50
    assert to_mono_16k(np.zeros(0, dtype=np.float32), 44100).size == 0


def test_float_beyond_full_scale_is_clipped_not_wrapped():
    loud = np.full(1600, 3.0, dtype=np.float32)
    assert to_mono_16k(loud, 16000).min() == 32767


def test_streamed_wav_with_unknown_data_size_is_read_to_the_end(tmp_path):
    data = _encode(_tone(16000), 16, False)
    raw = bytearray(_riff(_fmt(1, 1, 16000, 16), data))
    raw[-len(data) - 4 : -len(data)] = struct.pack("<I", 0xFFFFFFFF)
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(raw))
    assert len(load_wav(path)) == 8000


def _good(tmp_path: Path) -> bytes:
    return _riff(_fmt(1, 1, 16000, 16), _encode(_tone(16000), 16, False))


@pytest.mark.parametrize("name,make,phrase", [
    ("missing", None, "no such recording"),
    ("empty", lambda good: b"", "empty"),
    ("text", lambda good: b"hello, this is not audio\n", "not a WAV file"),
    ("mp3", lambda good: b"ID3\x04\x00" + bytes(100), "not a WAV file"),
    ("truncated", lambda good: good[: len(good) // 2], "truncated"),
    ("header-only", lambda good: good[:44], "truncated"),
    ("cut-in-header", lambda good: good[:30], "corrupt"),
    ("no-data", lambda good: good[:36], "no audio data"),
    ("adpcm", lambda good: _riff(_fmt(2, 1, 16000, 4), bytes(100)), "unsupported WAV encoding"),
    ("12-bit", lambda good: _riff(_fmt(1, 1, 16000, 12), bytes(100)), "unsupported WAV sample size"),
    ("rifx", lambda good: b"RIFX" + good[4:], "big-endian"),
    ("zero-samples", lambda good: _riff(_fmt(1, 1, 16000, 16), b"\x01"), "no audio"),
])
def test_broken_files_raise_one_clear_line(tmp_path, name, make, phrase):
    path = tmp_path / f"{name}.wav"
    if make is not None:
        path.write_bytes(make(_good(tmp_path)))
    with pytest.raises(AudioFileError) as caught:
        load_wav(path)
    message = str(caught.value)
    assert phrase in message and str(path) in message and "\n" not in message
    assert caught.value.exit_code == 2


def test_a_folder_is_not_a_recording(tmp_path):
    with pytest.raises(AudioFileError, match="folder"):
        load_wav(tmp_path)
