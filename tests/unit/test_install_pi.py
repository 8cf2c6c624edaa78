"""scripts/install-pi --dry-run: every step of a Raspberry Pi install is shown and nothing is run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi"


def _dry_run(*flags: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run([str(SCRIPT), "--dry-run", *flags], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)


def _commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def test_dry_run_lists_every_step_in_order(tmp_path):
    result = _dry_run("--user", "pi-caregiver-test", "--non-interactive", "--lang", "id", "--emergency", "112,119", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)
    joined = "\n".join(commands)
    order = ["apt-get install", "usermod -a -G audio pi-caregiver-test", "scripts/setup", "calf-assistant models prepare",
             "calf-assistant setup --non-interactive --lang id --emergency 112\\,119", "loginctl enable-linger pi-caregiver-test",
             "calf-assistant service install"]
    positions = [joined.find(step) for step in order]
    assert -1 not in positions, f"missing steps in:\n{joined}"
    assert positions == sorted(positions), joined
    assert "dry run" in result.stdout


def test_dry_run_uses_the_apt_list_of_scripts_setup(tmp_path):
    commands = _commands(_dry_run("--user", "nobody", tmp_path=tmp_path).stdout)
    install = next(c for c in commands if "apt-get install" in c)
    setup_text = (REPO / "scripts" / "setup").read_text()
    for package in install.split("--no-install-recommends", 1)[1].split():
        assert package in setup_text or package in ("git", "sudo")


def test_nothing_destructive_and_same_plan_twice(tmp_path):
    first = _dry_run("--user", "nobody", tmp_path=tmp_path)
    second = _dry_run("--user", "nobody", tmp_path=tmp_path)
    assert _commands(first.stdout) == _commands(second.stdout)
    for command in _commands(first.stdout):
        for word in ("rm ", "rm\t", "mkfs", "dd ", "userdel", "gpasswd -d", "--purge", "apt-get remove", "uninstall", "reboot"):
            assert word not in command + " ", command
    # usermod appends (-a), never replaces the user's groups.
    assert all("-a" in c.split() for c in _commands(first.stdout) if c.startswith(("usermod", "sudo usermod")))


def test_system_service_flag(tmp_path):
    commands = _commands(_dry_run("--user", "nobody", "--system-service", tmp_path=tmp_path).stdout)
    assert any(c.endswith("service install --system") for c in commands)
    assert not any("enable-linger" in c for c in commands)


def test_script_is_valid_bash_and_executable():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
