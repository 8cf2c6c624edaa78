"""`scripts/bench --wake [SECONDS]`: what listening for a wake word costs, per engine and wake word,
and what the sound cleaner and each voice detector cost while someone is heard.

Each engine and wake word is measured in a fresh process (so memory is its own): the time to load
the model, the real-time factor (processor time per second of audio, fed in 0.1 s blocks as the
microphone feeds it) over SECONDS (default 60) of brown noise with speech in it, and the process's
peak memory beside a bare Python with numpy. Prints a Markdown table and the JSON rows.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TALK = "my calf hurts when I walk and it gets better when I stop for a minute"


def _audio(seconds: float, folder: Path):
    import numpy as np

    from assistant.audio import load_wav

    noise = folder / "noise.wav"
    talk = folder / "talk.wav"
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise), "synth", str(seconds),
                    "brownnoise", "vol", "0.1"], check=True)
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(talk), TALK], check=True)
    samples = load_wav(noise).astype(np.int32)
    speech = load_wav(talk)
    for start in range(0, len(samples) - len(speech), len(speech) * 3):
        samples[start:start + len(speech)] += speech
    return np.clip(samples, -32768, 32767).astype(np.int16)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, word: str, seconds: float) -> dict:
    import numpy as np  # noqa: F401 (the baseline below includes it)

    with tempfile.TemporaryDirectory() as folder:
        audio = _audio(seconds, Path(folder))
    before = _peak_mb()
    if engine == "none":
        return {"engine": engine, "word": "", "peak_rss_mb": round(before, 1)}
    started = time.perf_counter()
    hears = _listener(engine, word)
    loaded = time.perf_counter() - started
    cpu = time.process_time()
    for start in range(0, len(audio), 1600):
        hears(audio[start:start + 1600])
    rtf = (time.process_time() - cpu) / (len(audio) / 16000)
    return {"engine": engine, "word": word, "load_s": round(loaded, 3), "rtf": round(rtf, 4),
            "peak_rss_mb": round(_peak_mb(), 1)}


def _listener(engine: str, word: str):
    """What takes each 0.1 s block: a wake-word engine, the sound cleaner, or a voice detector."""
    if engine == "cleaning":
        from assistant.cleaning import SoundCleaner

        return SoundCleaner(int(word.split()[-1]), 0).clean
    if engine == "voice detector":
        from assistant.endpoint import EndpointConfig, EndpointDetector

        # Never ends (a 10 min cap, no timeout): every block is judged, as while someone talks.
        config = EndpointConfig(voice_detector=word, max_utterance=600.0, listen_timeout=600.0, end_silence=600.0)
        detector = EndpointDetector(config)
        return detector.feed
    from types import SimpleNamespace

    from assistant.wake import load_engine

    listener = load_engine(SimpleNamespace(wake_engine=engine, wake_word=word, wake_model=""))
    listener.reset()
    return listener.hears


# The stages after the microphone that are not wake words: they run while the person is heard.
LISTENING = (("cleaning", "noise suppression 2"), ("voice detector", "silero"), ("voice detector", "webrtc"))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        print(json.dumps(worker(argv[1], argv[2], float(argv[3]))))
        return 0
    seconds = float(argv[0]) if argv else 60.0
    from assistant.wake import BUILT_IN

    rows = []
    for engine, word in [("none", ""), *[(engine, word) for engine, words in BUILT_IN.items() for word in words],
                         *LISTENING]:
        done = subprocess.run([sys.executable, __file__, "--worker", engine, word or "-", str(seconds)], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            print(f"bench: {engine} {word} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    baseline = rows[0]["peak_rss_mb"]
    print(f"Wake-word engines, the sound cleaner and the voice detectors over {seconds:.0f} s of audio "
          "(real-time factor: processor seconds per second heard)\n")
    print("| engine | wake word or kind | load (s) | real-time factor | memory over Python and numpy (MB) |")
    print("|---|---|---|---|---|")
    for row in rows[1:]:
        row["extra_rss_mb"] = round(row["peak_rss_mb"] - baseline, 1)
        print(f"| {row['engine']} | {row['word']} | {row['load_s']:.3f} | {row['rtf']:.4f} | {row['extra_rss_mb']:.1f} |")
    print()
    print(json.dumps({"seconds": seconds, "baseline_rss_mb": baseline, "rows": rows[1:]}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
