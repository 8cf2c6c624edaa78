"""The service's restart and back-off, proved on the unit file `calf-assistant service install`
writes: its command (the real `calf-assistant run`, on the virtual microphone) under a supervisor
that applies the unit's own Restart=, RestartSec=, StartLimit*=, TimeoutStopSec= and ExecReload=
(tests/helpers/supervisor.py), because no service manager runs in this container or in CI.
systemd's own parser checks the same file in tests/unit/test_service.py."""

from __future__ import annotations

import getpass
import os
import signal
import time

import pytest

from assistant import service
from assistant.knowledge import load_knowledge
from supervisor import Policy, Supervisor

pytestmark = pytest.mark.audio

READY = load_knowledge().pack("en").reply("ready_hands_free")  # CALF_ASSISTANT_ACTIVATION=auto


@pytest.fixture()
def unit(tmp_path):
    """The user unit as installed, with this installation's launcher."""
    scope = service.scope_for(False, tmp_path / "units", user=getpass.getuser())
    service.install(scope, use_systemctl=False, out=lambda line: None)
    return Policy.from_unit(scope.unit_path.read_text(encoding="utf-8"))


def _env(tmp_path, sound: dict[str, str]) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text('language = "en"\n', encoding="utf-8")
    # A service has no keyboard: the box listens hands-free (a wake phrase or button on a device).
    return {**os.environ, **sound, "CALF_ASSISTANT_ACTIVATION": "auto", "CALF_ASSISTANT_CONFIG": str(config)}


def _said(unit: Supervisor, text: str, since: int = 0) -> bool:
    return unit.output.exists() and text in unit.output.read_text(encoding="utf-8", errors="replace")[since:]


def _wait_said(unit: Supervisor, text: str, timeout: float, since: int = 0) -> None:
    deadline = time.monotonic() + timeout
    while not _said(unit, text, since):
        if time.monotonic() > deadline:
            raise AssertionError(f"'{text}' not in the output after {timeout:.0f} s:\n{unit.output.read_text()[-2000:]}")
        time.sleep(0.2)


def test_crashes_restart_after_restartsec_until_the_start_limit(unit, pulse, virtual_microphone, tmp_path):
    assert unit.restart == "on-failure" and unit.exec_start[-1] == "run"
    supervised = Supervisor(unit, _env(tmp_path, pulse.env), tmp_path / "journal.txt").start()
    try:
        supervised.wait_for(lambda state: state.state == "active", timeout=10)
        _wait_said(supervised, READY, timeout=120)

        # systemctl reload: SIGHUP reloads, the same process goes on (no restart needed or made)
        pid = supervised.main_pid
        supervised.reload()
        _wait_said(supervised, "settings reloaded (SIGHUP)", timeout=60)
        assert supervised.main_pid == pid and supervised.process.poll() is None and len(supervised.starts) == 1

        # a crash, again and again: restarted RestartSec after each, until StartLimitBurst starts
        # fall within StartLimitIntervalSec; then systemd stops trying
        while supervised.state != "failed":
            supervised.wait_for(lambda state: state.state in ("active", "failed"), timeout=unit.restart_sec + 30)
            if supervised.state == "active":
                time.sleep(1.0)  # running its command, whatever it is doing by now
                supervised.kill(signal.SIGKILL)
                supervised.wait_for(lambda state: state.state != "active", timeout=10)
        assert supervised.result == "start-limit-hit"
        assert len(supervised.starts) == unit.start_limit_burst
        assert [code for _, code in supervised.ends] == [-signal.SIGKILL] * unit.start_limit_burst
        gaps = [start - end for (end, _), start in zip(supervised.ends, supervised.starts[1:])]
        assert gaps and min(gaps) >= unit.restart_sec - 0.1, gaps
        assert supervised.starts[-1] - supervised.starts[0] < unit.start_limit_interval
    finally:
        supervised.close()


def test_a_stop_ends_with_exit_0_and_is_not_restarted(unit, pulse, virtual_microphone, tmp_path):
    supervised = Supervisor(unit, _env(tmp_path, pulse.env), tmp_path / "journal.txt").start()
    try:
        _wait_said(supervised, READY, timeout=120)
        assert supervised.stop() == 0
        assert supervised.state == "inactive" and supervised.result == "success"
        time.sleep(2.0)
        assert len(supervised.starts) == 1
    finally:
        supervised.close()


def test_without_a_microphone_at_boot_the_service_waits_for_one(unit, pulse, tmp_path):
    """A service has no keyboard (stdin is /dev/null): without a microphone, typing is no way
    out, and ending with exit 0 would leave it stopped for good (Restart=on-failure)."""
    nowhere = {"PULSE_SERVER": f"unix:{tmp_path}/no-sound-server"}
    supervised = Supervisor(unit, _env(tmp_path, nowhere), tmp_path / "journal.txt").start()
    try:
        _wait_said(supervised, "trying again in", timeout=120)
        assert supervised.state == "active" and supervised.process.poll() is None
        assert len(supervised.starts) == 1
    finally:
        supervised.close()
