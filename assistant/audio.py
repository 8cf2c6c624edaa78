"""Pure audio-file helpers: read a WAV recording and bring any samples to 16 kHz mono int16.

Recognisers want one format (16 kHz, mono, 16-bit); recordings and microphones come in many. This
module only converts data; devices live elsewhere. The WAV reader walks the RIFF chunks itself
because the stdlib `wave` module of Python 3.11 refuses float and WAVE_FORMAT_EXTENSIBLE files,
which phones, sox and many recorders write.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import AudioFileError

TARGET_RATE = 16_000

_FORMAT_PCM = 1
_FORMAT_FLOAT = 3
_FORMAT_EXTENSIBLE = 0xFFFE
# Chunk sizes writers put in when they streamed and never came back to fill in the length.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class WavFormat:
    """What the `fmt ` chunk says about the samples in the `data` chunk."""

    encoding: int
    """_FORMAT_PCM or _FORMAT_FLOAT (extensible files are resolved to one of these)."""

    channels: int
    rate: int
    bits: int


def _parse_format(path: Path, body: bytes) -> WavFormat:
    if len(body) < 16:
        raise AudioFileError(f"{path}: corrupt WAV file (format header too short)")
    encoding, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if encoding == _FORMAT_EXTENSIBLE:
        if len(body) < 26:
            raise AudioFileError(f"{path}: corrupt WAV file (extensible format header too short)")
        # The real format code is the first two bytes of the sub-format GUID.
        encoding = struct.unpack("<H", body[24:26])[0]
    if encoding not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise AudioFileError(
            f"{path}: unsupported WAV encoding (format code {encoding}); use PCM or float, e.g. sox in.wav -b 16 out.wav"
        )
    supported_bits = (8, 16, 24, 32) if encoding == _FORMAT_PCM else (32, 64)
    if bits not in supported_bits:
        raise AudioFileError(f"{path}: unsupported WAV sample size ({bits}-bit); use 16-bit PCM")
    if channels < 1 or rate < 1000:
        raise AudioFileError(f"{path}: corrupt WAV file ({channels} channels at {rate} Hz)")
    return WavFormat(encoding, channels, rate, bits)


def _read_chunks(path: Path, raw: bytes) -> tuple[WavFormat, bytes]:
    """Return the format and the sample bytes, or explain in one line what is wrong."""
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a WAV file (expected a RIFF/WAVE recording)")
    if raw[:4] == b"RIFX":
        raise AudioFileError(f"{path}: unsupported WAV format (big-endian RIFX); convert with sox to a normal WAV")
    fmt: WavFormat | None = None
    offset = 12
    while offset + 8 <= len(raw):
        chunk_id = raw[offset : offset + 4]
        size = struct.unpack("<I", raw[offset + 4 : offset + 8])[0]
        start = offset + 8
        if chunk_id == b"fmt ":
            fmt = _parse_format(path, raw[start : start + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFileError(f"{path}: corrupt WAV file (samples before the format header)")
            if size in _UNKNOWN_SIZES:
                return fmt, raw[start:]
            if start + size > len(raw):
                raise AudioFileError(
                    f"{path}: truncated WAV file ({len(raw) - start} of {size} bytes of audio present)"
                )
            return fmt, raw[start : start + size]
        # Chunks are padded to an even length.
        offset = start + size + (size & 1)
    if fmt is None:
        raise AudioFileError(f"{path}: corrupt or truncated WAV file (no format header)")
    raise AudioFileError(f"{path}: corrupt or truncated WAV file (no audio data)")


def _decode(fmt: WavFormat, data: bytes) -> np.ndarray:
    """Samples as float32 in -1..1, shape (frames, channels)."""
    width = fmt.bits // 8
    frame_bytes = width * fmt.channels
    data = data[: len(data) - len(data) % frame_bytes]
    if fmt.encoding == _FORMAT_FLOAT:
        samples = np.frombuffer(data, dtype="<f4" if fmt.bits == 32 else "<f8").astype(np.float32)
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    elif fmt.bits == 8:
        # 8-bit WAV is the one unsigned PCM size.
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif fmt.bits == 24:
        triplets = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        samples = values.astype(np.float32) / float(1 << 23)
    else:
        dtype = "<i2" if fmt.bits == 16 else "<i4"
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32) / float(1 << (fmt.bits - 1))
    return samples.reshape(-1, fmt.channels)


def to_mono_16k(samples: np.ndarray, rate: int, channels: int | None = None) -> np.ndarray:
    """Any samples (int or float, interleaved 1-D or (frames, channels)) to 16 kHz mono int16.

    Float input is taken as -1..1; integer input as full-scale for its type. Channels are averaged,
    so a stereo recording with speech on one side still reaches the recogniser (only 6 dB quieter).
    """
    import soxr

    array = np.asarray(samples)
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        # Unsigned types are centred on their midpoint (8-bit PCM style).
        middle = (int(info.max) + int(info.min) + 1) / 2.0
        scale = (int(info.max) - int(info.min) + 1) / 2.0
        array = (array.astype(np.float32) - middle) / scale
    else:
        array = array.astype(np.float32, copy=False)
    if array.ndim == 1 and channels and channels > 1:
        array = array[: len(array) - len(array) % channels].reshape(-1, channels)
    if array.ndim == 2:
        array = array.mean(axis=1) if array.shape[1] > 1 else array[:, 0]
    if rate != TARGET_RATE and array.size:
        array = soxr.resample(array, rate, TARGET_RATE, quality="HQ")
    return (np.clip(array, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def load_wav(path: str | Path) -> np.ndarray:
    """Read a WAV file as 16 kHz mono int16 samples, or raise AudioFileError with one clear line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such recording") from None
    except IsADirectoryError:
        raise AudioFileError(f"{path}: is a folder, not a WAV recording") from None
    except OSError as error:
        raise AudioFileError(f"{path}: cannot read the recording ({error.strerror})") from None
    if not raw:
        raise AudioFileError(f"{path}: the recording is empty (0 bytes)")
    fmt, data = _read_chunks(path, raw)
    frames = _decode(fmt, data)
    if frames.shape[0] == 0:
        raise AudioFileError(f"{path}: the recording holds no audio (0 samples)")
    return to_mono_16k(frames, fmt.rate)
