"""systemd's restart logic for a unit file, for where no service manager runs (containers, CI).

It starts the unit's ExecStart with the unit's Environment= and UMask=, and when the process ends
it decides as systemd.service(5) says, from the unit's own values only: Restart= (which ends are
restarted), RestartSec= (the wait before the restart), StartLimitIntervalSec= and StartLimitBurst=
(systemd.unit(5): more starts than the burst within the interval and the unit fails with
start-limit-hit), TimeoutStopSec= (SIGTERM, then SIGKILL), ExecReload= ($MAINPID). A key it does
not implement, such as RestartSteps=, is an error rather than quietly ignored, so a test run under
it proves the unit's settings, not a policy made up here.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLEAN_SIGNALS = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE}
"""Signals systemd counts as a clean end (systemd.service(5), "Restart=")."""

RESTARTS = {
    # Restart= value: restart on (clean exit, unclean exit code, unclean signal)
    "no": (False, False, False),
    "on-success": (True, False, False),
    "on-failure": (False, True, True),
    "on-abnormal": (False, False, True),
    "on-abort": (False, False, True),
    "always": (True, True, True),
}
NOT_HERE = ("RestartSteps", "RestartMaxDelaySec", "RestartPreventExitStatus", "RestartForceExitStatus",
            "SuccessExitStatus", "WatchdogSec", "ExecStartPre", "ExecStartPost", "ExecStop", "StartLimitAction")

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|hr)?")
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}


def seconds(span: str) -> float:
    """A systemd time span ("15", "15s", "10min", "1min 30s") in seconds."""
    parts = _SPAN.findall(span.strip())
    if not parts or _SPAN.sub("", span).strip():
        raise ValueError(f"not a systemd time span: {span!r}")
    return sum(float(number) * _UNITS[unit or None] for number, unit in parts)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of key → every value given (Environment= may repeat); comments dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@dataclass(frozen=True)
class Policy:
    exec_start: list[str]
    exec_reload: list[str]
    environment: dict[str, str]
    umask: int | None
    restart: str
    restart_sec: float
    start_limit_interval: float
    start_limit_burst: int
    timeout_stop: float

    @classmethod
    def from_unit(cls, text: str) -> "Policy":
        unit = parse_unit(text)
        service, section = unit.get("Service", {}), unit.get("Unit", {})
        present = [key for key in NOT_HERE if key in service or key in section]
        if present:
            raise NotImplementedError(f"the supervisor does not implement {', '.join(present)}")

        def last(table, key, default):
            return table[key][-1] if key in table else default

        environment = {}
        for value in service.get("Environment", []):
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                environment[name] = setting
        restart = last(service, "Restart", "no")
        if restart not in RESTARTS:
            raise NotImplementedError(f"Restart={restart}")
        umask = last(service, "UMask", None)
        return cls(
            exec_start=shlex.split(last(service, "ExecStart", "")),
            exec_reload=shlex.split(last(service, "ExecReload", "")),
            environment=environment,
            umask=int(umask, 8) if umask else None,
            restart=restart,
            restart_sec=seconds(last(service, "RestartSec", "100ms")),
            # systemd's defaults (DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5)
            start_limit_interval=seconds(last(section, "StartLimitIntervalSec", "10s")),
            start_limit_burst=int(last(section, "StartLimitBurst", "5")),
            timeout_stop=seconds(last(service, "TimeoutStopSec", "90s")),
        )

    def restarts_after(self, returncode: int) -> bool:
        clean_exit, unclean_code, unclean_signal = RESTARTS[self.restart]
        if returncode == 0 or (returncode < 0 and -returncode in CLEAN_SIGNALS):
            return clean_exit
        return unclean_signal if returncode < 0 else unclean_code


@dataclass
class Supervisor:
    """One unit, started once; `state` is what `systemctl is-active` would say."""

    policy: Policy
    env: dict[str, str]
    output: Path
    """The process's stdout and stderr, as the journal would hold them."""
    starts: list[float] = field(default_factory=list)
    ends: list[tuple[float, int]] = field(default_factory=list)
    """(when, return code: negative for a signal)."""
    state: str = "inactive"
    result: str = ""
    process: subprocess.Popen | None = None

    def __post_init__(self):
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> "Supervisor":
        self._thread = threading.Thread(target=self._manage, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen:
        umask = self.policy.umask
        with open(self.output, "ab") as sink:
            return subprocess.Popen(self.policy.exec_start, env={**self.env, **self.policy.environment},
                                    stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
                                    start_new_session=True)

    def _manage(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                recent = [at for at in self.starts if now - at < self.policy.start_limit_interval]
                if len(recent) >= self.policy.start_limit_burst:
                    self.state, self.result = "failed", "start-limit-hit"
                    self._lock.notify_all()
                    return
                self.starts.append(now)
                self.process = self._spawn()
                self.state = "active"
                self._lock.notify_all()
            code = self.process.wait()
            with self._lock:
                self.ends.append((time.monotonic(), code))
                if self._stopping or not self.policy.restarts_after(code):
                    clean = code == 0 or (code < 0 and -code in CLEAN_SIGNALS)
                    self.state = "inactive" if clean else "failed"
                    self.result = "success" if clean else ("signal" if code < 0 else "exit-code")
                    self._lock.notify_all()
                    return
                self.state = "activating"  # systemd: "auto-restart", waiting RestartSec
                self._lock.notify_all()
            time.sleep(self.policy.restart_sec)

    def wait_for(self, condition, timeout: float) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: condition(self), timeout=timeout):
                raise AssertionError(f"still {self.state} after {timeout:.0f} s ({len(self.starts)} starts)")

    @property
    def main_pid(self) -> int:
        return self.process.pid

    def kill(self, number: int = signal.SIGKILL) -> None:
        """`systemctl kill -s N`: a crash, as far as the restart logic can tell."""
        os.kill(self.main_pid, number)

    def reload(self) -> None:
        """`systemctl reload`: the unit's ExecReload= with $MAINPID."""
        command = [part.replace("$MAINPID", str(self.main_pid)) for part in self.policy.exec_reload]
        if not command:
            raise AssertionError("the unit has no ExecReload=, so systemctl reload fails")
        subprocess.run(command, check=True, timeout=10)

    def stop(self) -> int:
        """`systemctl stop`: SIGTERM, then SIGKILL after TimeoutStopSec; never restarted."""
        with self._lock:
            self._stopping = True
            process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.policy.timeout_stop)
            except subprocess.TimeoutExpired:
                process.kill()
        self.wait_for(lambda unit: unit.state in ("inactive", "failed"), timeout=10)
        return self.ends[-1][1]

    def close(self) -> None:
        """Whatever happens to the test, the process and its session end."""
        with self._lock:
            self._stopping = True
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
