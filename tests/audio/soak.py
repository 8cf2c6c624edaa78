"""The live loop soaked with faults: many short spoken turns through `calf-assistant run` on the
PulseAudio virtual devices, while the microphone is unloaded and loaded again, the voice's model
file is broken, the diary's disk fills up, and the process gets SIGHUP and, at the end, SIGTERM.

tests/audio/test_soak.py runs a few minutes of it in CI; `scripts/soak` runs it for as long as
asked and prints the figures. Every fault is done to the real thing: the sound server's module,
the model file the process loads, a small tmpfs holding the diary, and signals to the process.

Turns are short on purpose. A turn lasts as long as the person's words, the silence that ends
them, the recogniser, and the reply spoken in real time on the virtual speaker. So the person
says short things (a one-line description, "no", "repeat that", "stop"), rendered once in
hibari's voice so they are heard reliably, and the assistant runs with settings a caregiver could
choose for a brisk speaker: the fastest voice (rate 1.5), mid-walk replies, and 0.6 s of silence
ending a description. Even so a turn takes about 8 s of wall clock, half of it the reply spoken
(one or two short sentences), so CI's few minutes hold a few dozen turns and the hundreds are for
`scripts/soak`.

The driver knows the assistant is listening again from the sound server itself: `pactl
subscribe` reports the speaker stream of each reply opening and closing, and the microphone is
unmuted 0.3 s after it closes.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _path in (HERE, REPO / "tests" / "helpers", REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from processes import LineReader  # noqa: E402
from virtual_audio import RATE, ROOM_NOISE, SOURCE, PulseServer, VirtualMicrophone  # noqa: E402

PERSON = {
    "describe": ("My calf cramps when I walk.", "My calf hurts when I walk."),
    "no": ("No.",),
    "repeat": ("Repeat that, please.",),
    "stop": ("Stop.",),
}
CYCLE = ("describe", "no", "repeat", "stop")
"""One short conversation: a description, the first danger screen answered, the second asked
again, then goodbye. Each reply is one or two short sentences."""

CONFIG = """language = "en"
mid_walk = true
[voice]
rate = {rate}
[audio]
end_of_speech_silence = 0.6
"""

FAULTS = ("microphone", "disk", "voice", "hangup")
ECHO_TAIL = 0.3
"""assistant.devices.Microphone.echo_tail: blocks are still dropped this long after a reply."""
LEAD = 0.8
"""Seconds of room noise before each utterance, as a person takes a breath before answering: the
loop listens again (it drops what came before, capture's flush) a little after the speaker stream
closes, later on a loaded machine."""
ANSWER_TIMEOUT = 40.0
"""Seconds from the end of what was said to the reply line, on a busy machine; far above normal."""
RECOVERY_LIMIT = 30.0
"""A fault is survived when a turn is answered within this many seconds of the fault ending."""
DIARY_TMPFS = "2m"
MEMORY_EVERY = 1.0
FLAT_MB = 25.0
"""Resident memory is flat when the level it rests at between turns, measured just before each
thing the person says, is at most this much higher over the last quarter of the turns (those
after the first conversation) than over the first quarter. Between turns, because the loop hands
its free pages back after every turn (assistant/memory.py), so what is left then is what a leak
would raise; by turns, not by time, because a four-minute run spends much of its first quarter
with the microphone unplugged, idle and small, and its last quarter speaking, which once made a
time-based comparison read +56 MB in CI on a run that ended 45 MB below its start. The level of a
quarter is its LEVEL quantile: while a repaired voice is out (espeak-ng speaking) the process is
briefly smaller, and such dips must not pull a quarter down. The working level while turns run
(the same quantile of the once-a-second samples, by time) is reported beside it, not judged."""
LEVEL = 0.9


def _now() -> float:
    return time.monotonic()


def _level(samples: list[int]) -> float:
    """The working level of resident memory over some samples: their LEVEL quantile."""
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, int(LEVEL * len(ordered)))])


# ---- what the assistant prints ------------------------------------------------------------------


def system_replies() -> dict[str, str]:
    """Lines the live loop says by itself, not in answer to what was heard."""
    from assistant.knowledge import load_knowledge

    pack = load_knowledge().pack("en")
    return {pack.reply(key): key for key in ("ready_hands_free", "heard_nothing", "device_error")}


# ---- the sound server's events: when a reply starts and stops playing ----------------------------


class StreamWatch:
    """`pactl subscribe`: which speaker streams are open, and since when nothing plays."""

    _EVENT = re.compile(r"Event '(new|remove)' on sink-input #(\d+)")

    def __init__(self, server: PulseServer):
        self.process = subprocess.Popen(["pactl", "subscribe"], env={**os.environ, **server.env},
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lock = threading.Lock()
        self.playing: dict[str, float] = {}
        self.opened = 0.0
        """When the latest speaker stream opened."""
        self.quiet_since = _now()
        self.played: list[float] = []
        """Seconds each speaker stream was open (one per thing said)."""
        self._thread = threading.Thread(target=self._read, name="pactl-subscribe", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            match = self._EVENT.search(line)
            if not match:
                continue
            event, index = match.groups()
            at = _now()
            with self.lock:
                if event == "new":
                    self.playing[index] = at
                    self.opened = at
                elif index in self.playing:
                    seconds = at - self.playing.pop(index)
                    if seconds > 0.3:  # not the speaker's format check, which opens and closes at once
                        self.played.append(seconds)
                    if not self.playing:
                        self.quiet_since = at

    def wait_until_listening(self, said_after: float, timeout: float = 120.0) -> None:
        """Once the reply printed at `said_after` has been played and the microphone is open again."""
        deadline = _now() + timeout
        while _now() < deadline:
            with self.lock:
                # The line is printed before its speech starts, but on a busy machine the reader
                # thread may stamp it a little after the stream opened.
                started = self.opened >= said_after - 1.0
                quiet = not self.playing and _now() - self.quiet_since >= 0.25
            # A reply that never reached the speaker (it failed, and said so) must not hang the run.
            if quiet and (started or _now() - said_after > 5.0):
                time.sleep(ECHO_TAIL)
                return
            time.sleep(0.02)
        raise TimeoutError(f"the assistant was still speaking {timeout:.0f} s after its reply")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Lines:
    """The assistant's standard output, each line with the moment it arrived: a thread reads it
    through the shared LineReader, so a line printed during a fault is never taken later for the
    answer to something said after it."""

    def __init__(self, process: subprocess.Popen):
        self.reader = LineReader(process, timeout=24 * 3600.0)
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, name="soak-stdout", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                line = self.reader.line().decode("utf-8", errors="replace").strip()
            except Exception:  # the process ended (LineReader says so by raising)
                self.queue.put((_now(), None))
                return
            if line:
                self.queue.put((_now(), line))

    def next(self, timeout: float) -> tuple[float, str | None] | None:
        """(arrival, line), (arrival, None) once the process has ended, or None if nothing came."""
        try:
            return self.queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


# ---- the faults' real objects ------------------------------------------------------------------


class Diary:
    """The diary's folder on a tmpfs of its own, so it can be filled for real."""

    def __init__(self, home: Path, size: str = DIARY_TMPFS):
        self.home = home
        self.filler = home / "filler"
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(home)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PermissionError(f"cannot mount a tmpfs for the diary (needs root): {done.stderr.strip()}")

    @property
    def path(self) -> Path:
        return self.home / "calf-assistant" / "diary.sqlite3"

    def fill(self) -> None:
        # Unbuffered, so the write that finds the disk full is the one that fails, not a later close.
        with open(self.filler, "wb", buffering=0) as stream:
            for block in (b"\0" * 65536, b"\0"):  # then byte by byte: not one is left
                try:
                    while True:
                        stream.write(block)
                except OSError:
                    pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.home)], capture_output=True)


def shadow_hibari(folder: Path) -> Path:
    """A private copy of the hibari package, found first on PYTHONPATH, so its model file can be
    broken without touching the installed one. Returns the model file."""
    import hibari

    source = Path(hibari.__file__).resolve().parent
    target = folder / "hibari"
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "assets" / "hibari.onnx"


def render_person(folder: Path) -> dict[str, list]:
    """What the person says, as 16 kHz int16 after LEAD s of room noise (rendered once, kept)."""
    import numpy as np
    import speech_maker

    from assistant.audio import load_wav

    folder.mkdir(parents=True, exist_ok=True)
    said = {}
    for name, texts in PERSON.items():
        said[name] = []
        for number, text in enumerate(texts):
            path = folder / f"{name}-{number}.wav"
            if not path.exists():
                speech_maker.speak_hibari(text, path, speed=1.0)
            breath = np.random.default_rng(number).normal(0, ROOM_NOISE, int(LEAD * RATE)).astype(np.int16)
            said[name].append(np.concatenate([breath, load_wav(path)]))
    return said


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    started: float
    ended: float = 0.0
    """When the fault was over (microphone back, space freed) or was done (a signal sent)."""
    answered: float = 0.0
    """When the first turn after it was answered."""
    attempts: int = 0
    """Utterances it took (1: the first was answered)."""

    @property
    def recovery(self) -> float:
        return self.answered - self.ended if self.answered else float("inf")


@dataclass
class Report:
    answered: int = 0
    unanswered: int = 0
    """Utterances said while nothing was wrong that got no answer (must stay 0)."""
    missed: list[str] = field(default_factory=list)
    """For each of those: what was said, and what the assistant said instead."""
    events: list[str] = field(default_factory=list)
    """Every utterance, line and fault with its time, for when something goes wrong."""
    faults: list[Fault] = field(default_factory=list)
    memory: list[tuple[float, int, int]] = field(default_factory=list)
    """(seconds into the run, VmRSS kB, turns answered so far)."""
    resting: list[tuple[int, int]] = field(default_factory=list)
    """(turns answered so far, VmRSS kB) just before each thing the person says."""
    warm_turns: int = 0
    exit_code: int | None = None
    stop_seconds: float = 0.0
    seconds: float = 0.0
    turn_seconds: list[float] = field(default_factory=list)
    played_seconds: list[float] = field(default_factory=list)
    diary_problems: list[str] = field(default_factory=list)
    kills: int = 0
    """Times the process was killed with SIGKILL and started again."""
    diary_turns: int = 0
    diary_conversations: int = 0
    stderr: str = ""
    log: str = ""

    def memory_mb(self) -> dict[str, float]:
        warm = [kb for _, kb, turns in self.memory if turns >= self.warm_turns] or [kb for _, kb, _ in self.memory]
        resting = [kb for turns, kb in self.resting if turns >= self.warm_turns] or [kb for _, kb in self.resting]
        if not warm or not resting:
            return {}
        figures = {"start": warm[0] / 1024, "end": warm[-1] / 1024, "peak": max(warm) / 1024}
        for name, samples in (("resting", resting), ("working", warm)):
            quarter = max(1, len(samples) // 4)
            first, last = _level(samples[:quarter]), _level(samples[-quarter:])
            figures |= {f"{name}_first_quarter": first / 1024, f"{name}_last_quarter": last / 1024,
                        f"{name}_growth": (last - first) / 1024}
        return figures

    @property
    def memory_flat(self) -> bool:
        figures = self.memory_mb()
        return bool(figures) and figures["resting_growth"] <= FLAT_MB

    def summary(self) -> dict:
        kinds = {}
        for fault in self.faults:
            kinds.setdefault(fault.kind, []).append(fault.recovery)
        return {
            "turns_answered": self.answered,
            "turns_unanswered": self.unanswered,
            "unanswered": self.missed,
            "faults_survived": sum(1 for fault in self.faults if fault.recovery <= RECOVERY_LIMIT),
            "faults": len(self.faults),
            "recovery_seconds": {kind: {"count": len(times), "median": round(statistics.median(times), 2),
                                        "max": round(max(times), 2)} for kind, times in kinds.items()},
            "memory_mb": {key: round(value, 1) for key, value in self.memory_mb().items()},
            "memory_flat": self.memory_flat,
            "turn_seconds_median": round(statistics.median(self.turn_seconds), 2) if self.turn_seconds else None,
            "reply_played_seconds_median": round(statistics.median(self.played_seconds), 2) if self.played_seconds else None,
            "sigterm_exit_code": self.exit_code,
            "sigterm_stop_seconds": round(self.stop_seconds, 2),
            "diary_conversations": self.diary_conversations,
            "diary_person_turns": self.diary_turns,
            "diary_problems": self.diary_problems,
            "sigkill_restarts": self.kills,
            "wall_seconds": round(self.seconds, 1),
        }


class Soak:
    def __init__(self, folder: Path, models: Path | None = None, rate: float = 1.5, trace=None):
        self.folder = folder
        self._print = trace or (lambda message: None)
        self.models = models
        self.rate = rate
        self.report = Report()
        self.replies: list[str] = []
        """Every line the conversation answered with, in order (system lines left out)."""
        self.system = system_replies()
        self.server: PulseServer | None = None
        self.microphone: VirtualMicrophone | None = None
        self.watch: StreamWatch | None = None
        self.diary: Diary | None = None
        self.process: subprocess.Popen | None = None
        self.lines: Lines | None = None
        self.stderr_path = folder / "stderr.txt"
        self.log_path = folder / "state" / "calf-assistant" / "calf-assistant.log"
        self.config = folder / "config.toml"
        self.started = _now()
        self.last_line_at = 0.0
        self._turn = 0
        self.last_missed = ""
        self._sampling = threading.Event()

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> "Soak":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.person = render_person(self.folder / "person")
        self.model_file = shadow_hibari(self.folder / "shadow")
        self.config.write_text(CONFIG.format(rate=self.rate), encoding="utf-8")
        self.diary = Diary(self.folder / "diary")
        (self.folder / "pulse").mkdir(exist_ok=True)
        self.server = PulseServer(self.folder / "pulse").start()
        self.microphone = VirtualMicrophone(self.server.fifo, noise_level=ROOM_NOISE).start()
        self.watch = StreamWatch(self.server)
        self.env = {**os.environ, **self.server.env,
                    "CALF_ASSISTANT_ACTIVATION": "auto", "CALF_ASSISTANT_CONFIG": str(self.config),
                    "XDG_DATA_HOME": str(self.diary.home), "XDG_STATE_HOME": str(self.folder / "state"),
                    "XDG_CONFIG_HOME": str(self.folder / "config"), "HF_HUB_OFFLINE": "1",
                    "PYTHONPATH": os.pathsep.join([str(self.folder / "shadow"), str(REPO)])}
        self.env.pop("CALF_ASSISTANT_MAX_TURNS", None)
        if self.models is not None:
            self.env["CALF_ASSISTANT_MODELS"] = str(self.models)
        self.started = _now()
        self._launch()
        return self

    def _launch(self) -> None:
        """`calf-assistant run`, until it says it is ready; standard error is kept across starts."""
        with open(self.stderr_path, "ab") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "assistant", "run"], cwd=REPO, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        self.lines = Lines(self.process)
        threading.Thread(target=self._sample_memory, name="soak-memory", daemon=True).start()
        ready = self._line(120.0)
        if self.system.get(ready) != "ready_hands_free":
            raise AssertionError(f"the assistant did not say it was ready: {ready!r}\n{self.stderr()}")

    def close(self) -> None:
        self._sampling.set()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for part in (self.microphone, self.watch, self.server):
            if part is not None:
                part.stop()
        if self.diary is not None:
            self.diary.unmount()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace") if self.stderr_path.exists() else ""

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def trace(self, message: str) -> None:
        line = f"{_now() - self.started:7.1f} s  {message}"
        self.report.events.append(line)
        self._print(line)

    def _resident_kb(self) -> int | None:
        try:
            text = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) if match else None

    def _sample_memory(self) -> None:
        while not self._sampling.wait(MEMORY_EVERY):
            kb = self._resident_kb()
            if kb is None:
                return
            self.report.memory.append((_now() - self.started, kb, self.report.answered))

    # -- one turn ---------------------------------------------------------------------------------

    def _line(self, timeout: float) -> str | None:
        """The next line the assistant prints, or None when none comes in time."""
        item = self.lines.next(timeout)
        if item is None:
            return None
        arrived, line = item
        if line is None:
            raise AssertionError(f"the assistant ended (exit code {self.process.wait()}):\n{self.stderr()[-3000:]}")
        self.last_line_at = arrived
        self.report.events.append(f"{arrived - self.started:7.1f} s  said: {line[:70]}")
        return line

    def _answered(self, line: str) -> None:
        self.replies.append(line)
        self.report.answered += 1

    def _settle(self) -> None:
        """Until the assistant has said all it had to say and listens: lines that came meanwhile
        (its own notices, or a late answer) are taken in, and their speech waited for."""
        while True:
            self.watch.wait_until_listening(self.last_line_at)
            came = False
            while (line := self._line(0.0)) is not None:
                came = True
                if line not in self.system:
                    self._answered(line)
            if not came:
                return

    def say(self, name: str) -> str | None:
        """One utterance once the assistant listens; the reply, or None when it answered with one
        of its own lines instead (it heard nothing, or the microphone failed)."""
        self._settle()
        if (kb := self._resident_kb()) is not None:
            self.report.resting.append((self.report.answered, kb))  # it has spoken, handed back, and listens
        options = self.person[name]
        audio = options[self._turn % len(options)]
        spoken = _now()
        with self.watch.lock:
            quiet_for = spoken - self.watch.quiet_since
        self.report.events.append(f"{spoken - self.started:7.1f} s  person: {name} (speaker quiet for {quiet_for:.2f} s)")
        self.microphone.say(audio)
        line = self._line(ANSWER_TIMEOUT + len(audio) / RATE)
        if line is None:
            raise AssertionError(f"no reply within {ANSWER_TIMEOUT:.0f} s to '{name}'\n{self.stderr()[-2000:]}")
        if line in self.system:
            self.last_missed = f"{name!r} answered with {self.system[line]!r} {self.last_line_at - spoken:.1f} s later"
            return None
        self._answered(line)
        self.report.turn_seconds.append(self.last_line_at - spoken)
        self.trace(f"turn {self.report.answered:4d}  {name!r} -> {line[:60]!r}")
        self._turn += 1
        return line

    def turn(self, name: str) -> str | None:
        """A turn while nothing is wrong: it must be answered. If it is not, it counts, and is
        said once more, as a person would, so the conversation stays the one planned."""
        reply = self.say(name)
        if reply is None:
            self.report.unanswered += 1
            self.report.missed.append(self.last_missed)
            self.trace(f"'{name}' was not answered; said again")
            reply = self.say(name)
        return reply

    def cycle(self) -> None:
        for name in CYCLE:
            self.turn(name)

    def recover(self, fault: Fault, name: str = CYCLE[0]) -> None:
        """Say `name` until it is answered, as a person would after a fault; timed from its end.
        The rest of that conversation is the caller's (`rest_of_cycle`)."""
        while fault.answered == 0.0:
            fault.attempts += 1
            if self.say(name) is not None:
                fault.answered = self.last_line_at
            elif _now() - fault.ended > 3 * RECOVERY_LIMIT:
                break
        self.report.faults.append(fault)
        self.trace(f"fault {fault.kind}: answered again {fault.recovery:.1f} s "
                   f"after it ended ({fault.attempts} utterance(s))")

    def rest_of_cycle(self) -> None:
        """After a fault's first answer, goodbye: the conversation closes into the diary."""
        self.turn(CYCLE[-1])

    # -- the faults -------------------------------------------------------------------------------

    def fault_microphone(self, outage: float = 10.0) -> Fault:
        """The microphone unplugged: its source unloaded from the sound server, then loaded again."""
        fault = Fault("microphone", _now())
        modules = self.server.pactl("list", "short", "modules").stdout.splitlines()
        [module] = [line.split()[0] for line in modules if "module-pipe-source" in line]
        assert self.server.pactl("unload-module", module).returncode == 0
        self.microphone.stop()  # its FIFO is gone with the module
        time.sleep(outage)
        loaded = self.server.pactl("load-module", "module-pipe-source", f"source_name={SOURCE}",
                                   f"file={self.server.fifo}", "format=s16le", f"rate={RATE}", "channels=1")
        assert loaded.returncode == 0, loaded.stderr
        self.server.pactl("set-default-source", SOURCE)
        self.microphone = VirtualMicrophone(self.server.fifo, noise_level=ROOM_NOISE).start()
        fault.ended = _now()
        self.recover(fault)
        self.rest_of_cycle()
        return fault

    def fault_disk(self) -> Fault:
        """The diary's disk full for one whole conversation, then space again."""
        fault = Fault("disk", _now())
        self.diary.fill()
        for name in CYCLE:
            self.turn(name)  # answered all the same
        self.diary.free()
        fault.ended = _now()
        self.recover(fault)
        self.rest_of_cycle()
        return fault

    def fault_voice(self) -> Fault:
        """The voice's model file broken on disk and the voice loaded again (SIGHUP): espeak-ng
        must speak at once. Then the file is put right and a second SIGHUP brings the voice back."""
        fault = Fault("voice", _now())
        good = self.model_file.with_name("hibari.onnx.good")
        broken = self.model_file.with_name("hibari.onnx.broken")
        broken.write_bytes(b"this is not an onnx model\n" * 4096)
        os.link(self.model_file, good)
        os.replace(broken, self.model_file)  # never a moment without the file, when Piper would stand in
        self.process.send_signal(signal.SIGHUP)
        fault.ended = _now()
        self.recover(fault)  # in espeak-ng's voice
        os.replace(good, self.model_file)
        self.process.send_signal(signal.SIGHUP)  # taken up at the next turn: hibari again
        self.rest_of_cycle()
        return fault

    def fault_hangup(self) -> Fault:
        """A settings change and SIGHUP (systemctl reload): the next turn uses it."""
        fault = Fault("hangup", _now())
        self.rate = 1.4 if self.rate == 1.5 else 1.5
        self.config.write_text(CONFIG.format(rate=self.rate), encoding="utf-8")
        self.process.send_signal(signal.SIGHUP)
        fault.ended = _now()
        self.recover(fault)
        self.rest_of_cycle()
        return fault

    def killed_mid_turn(self, chance: random.Random, moment: str) -> None:
        """A pulled plug: a few turns of a conversation, then SIGKILL at a random moment of the
        next one, and the assistant started again, as its service restarts it. `moment` is
        "hearing" (up to 1.5 s after the words end: still deciding they ended, or recognising) or
        "speaking" (up to 2 s into its reply). Every reply it gave must be in the diary, with at
        most one more, a reply it had committed but not yet given, and the cut-off entry must read
        as cut off, not in progress."""
        answered = chance.randint(0, len(CYCLE) - 2)  # never cut before "stop": that one ends it anyway
        for name in CYCLE[:answered]:
            self.turn(name)
        name = CYCLE[answered]
        self._settle()
        audio = self.person[name][self._turn % len(self.person[name])]
        self.microphone.say(audio)
        self.microphone.wait_until_said()
        if moment == "speaking":
            line = self._line(ANSWER_TIMEOUT)
            if line is None or line in self.system:
                raise AssertionError(f"no reply to '{name}' to cut off: {line!r}\n{self.stderr()[-2000:]}")
            self._answered(line)
        delay = chance.uniform(0.0, 1.5 if moment == "hearing" else 2.0)
        time.sleep(delay)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        while (item := self.lines.next(1.0)) is not None and item[1] is not None:
            if item[1] not in self.system:
                self._answered(item[1])  # given before the plug was pulled
        self.trace(f"killed while {moment} '{name}', {delay:.1f} s in")

        said = self._read_diary(f"killed while {moment} '{name}'")
        if said[: len(self.replies)] != self.replies or len(said) > len(self.replies) + 1:
            self.report.diary_problems.append(f"killed while {moment} '{name}': the diary holds {said[-3:]}, "
                                              f"the assistant had given {self.replies[-3:]}")
        self.replies = said  # what the next check starts from: the diary, one unspoken reply included
        self.report.kills += 1
        self._launch()

    def terminate(self) -> int:
        self._settle()
        self._sampling.set()  # memory while it runs, not while it shuts down
        sent = _now()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=20)  # the unit's TimeoutStopSec
        except subprocess.TimeoutExpired:
            code = None
        self.report.stop_seconds = _now() - sent
        self.report.exit_code = code
        self._sampling.set()
        return code

    # -- the whole run ----------------------------------------------------------------------------

    def run(self, *, minutes: float | None = None, turns: int | None = None, fault_every: int = 2) -> Report:
        """Conversations until the time or the turns are used up, with a fault after every
        `fault_every` conversations (a fault's own conversation, said while or right after it,
        counts), in the order of FAULTS; then SIGTERM, and the diary checked."""
        self.cycle()  # the first conversation warms up, and is left out of the memory figures
        self.report.warm_turns = self.report.answered
        deadline = _now() + minutes * 60 if minutes else None
        since_fault, faults = 1, 0
        while not ((deadline is not None and _now() >= deadline) or (turns is not None and self.report.answered >= turns)):
            if since_fault >= fault_every:
                getattr(self, f"fault_{FAULTS[faults % len(FAULTS)]}")()
                faults += 1
            else:
                self.cycle()
            since_fault = 1 if since_fault >= fault_every else since_fault + 1
        return self.finish()

    def every_fault_then(self, minutes: float) -> Report:
        """The first conversation, each fault once, then whole conversations while one more fits
        in `minutes` from the start (a loaded machine gets fewer, not a longer run)."""
        self.cycle()
        self.report.warm_turns = self.report.answered
        for kind in FAULTS:
            getattr(self, f"fault_{kind}")()
        deadline = self.started + minutes * 60
        while True:
            began = _now()
            if began + getattr(self, "_last_cycle", 0.0) > deadline:
                break
            self.cycle()
            self._last_cycle = _now() - began
        return self.finish()

    def finish(self) -> Report:
        self.terminate()
        self.report.played_seconds = list(self.watch.played)
        self.check_diary()
        self.report.seconds = _now() - self.started
        self.report.stderr = self.stderr()
        self.report.log = self.log()
        return self.report

    def check_diary(self) -> None:
        """Every reply the conversation gave is in the diary, in order; the file is sound."""
        problems = self.report.diary_problems
        if not self.diary.path.exists():
            problems.append("no diary was written")
            return
        said = self._read_diary("after the assistant ended")
        if said != self.replies:
            first = next((n for n, (a, b) in enumerate(zip(said, self.replies)) if a != b), min(len(said), len(self.replies)))
            problems.append(f"the diary holds {len(said)} replies, the assistant gave {len(self.replies)}; "
                            f"first difference at {first}: {said[first:first + 1]} vs {self.replies[first:first + 1]}")

    def _read_diary(self, when: str) -> list[str]:
        """The replies the diary holds, in order, without the greeting (the live loop does not print
        it). A file that fails its integrity check, or an entry that reads as still in progress
        (its writer is gone by now), is a problem, noted with `when`."""
        from assistant import diary
        from assistant.knowledge import load_knowledge

        if not self.diary.path.exists():
            return []
        with sqlite3.connect(self.diary.path) as connection:
            check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            self.report.diary_problems.append(f"{when}: integrity_check: {check}")
        entries = sorted(diary.load(self.diary.path), key=lambda entry: entry.id)
        if any(entry.in_progress for entry in entries):
            self.report.diary_problems.append(f"{when}: an entry reads as in progress")
        self.report.diary_conversations = len(entries)
        self.report.diary_turns = sum(len(entry.heard) for entry in entries)
        greeting = load_knowledge().pack("en").reply("greeting")
        return [text for entry in entries for text in entry.said if text != greeting]


# ---- scripts/soak ---------------------------------------------------------------------------------


def machine() -> str:
    import platform

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, load average {load}"


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description="Soak `calf-assistant run` with faults on virtual audio devices.")
    parser.add_argument("--minutes", type=float, help="how long to run the turns (default 10)")
    parser.add_argument("--turns", type=int, help="stop after this many answered turns instead")
    parser.add_argument("--fault-every", type=int, default=2,
                        help="a fault after every this many conversations (a fault's own one counts; default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures, and every memory sample, to this file")
    parser.add_argument("--verbose", action="store_true", help="print each turn and fault as it happens")
    args = parser.parse_args(argv)
    if args.minutes is None and args.turns is None:
        args.minutes = 10.0
    if os.geteuid() != 0:
        print("soak: needs root, to mount the small tmpfs the diary fills", file=sys.stderr)
        return 2
    from assistant import models

    folder = Path(tempfile.mkdtemp(prefix="calf-soak-"))
    models.prepare()
    soak = Soak(folder, models=models.models_home(), trace=(lambda line: print(line, flush=True)) if args.verbose else None)
    print(f"soak: {machine()}", flush=True)
    try:
        soak.start()
        report = soak.run(minutes=args.minutes, turns=args.turns, fault_every=args.fault_every)
    except BaseException:
        print(soak.stderr()[-3000:], file=sys.stderr)
        raise
    finally:
        soak.close()
    summary = {"machine": machine(), **report.summary()}
    print(json.dumps(summary, indent=2))
    if args.json:
        samples = [[round(at, 1), round(kb / 1024, 1), turns] for at, kb, turns in report.memory]
        resting = [[turns, round(kb / 1024, 1)] for turns, kb in report.resting]
        figures = {**summary, "memory_samples": {"columns": ["seconds", "VmRSS MB", "turns answered"], "rows": samples},
                   "resting_samples": {"columns": ["turns answered", "VmRSS MB"], "rows": resting}}
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    healthy = (report.unanswered == 0 and summary["faults_survived"] == summary["faults"] and report.exit_code == 0
               and not report.diary_problems and report.memory_flat)
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
