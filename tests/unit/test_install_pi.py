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


def _fake(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def _with_fakes(tmp_path: Path, **scripts: str) -> dict:
    folder = tmp_path / "fake-bin"
    folder.mkdir(exist_ok=True)
    for name, script in scripts.items():
        _fake(folder, name.replace("_", "-"), script)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def _run_with(env: dict, *flags: str, tmp_path: Path) -> subprocess.CompletedProcess:
    full = dict(os.environ, HOME=str(tmp_path), **env)
    return subprocess.run([str(SCRIPT), *flags], capture_output=True, text=True, env=full, timeout=60, cwd=tmp_path)


def test_32_bit_raspberry_pi_os_is_stopped_with_a_clear_message_before_anything_runs(tmp_path):
    # 32-bit Raspberry Pi OS on a Pi 4 runs a 64-bit kernel: only dpkg tells the truth.
    env = _with_fakes(tmp_path, dpkg='[ "$1" = --print-architecture ] && echo armhf', uname="echo aarch64")
    for flags in (("--dry-run",), ()):
        result = _run_with(env, *flags, "--user", "nobody", tmp_path=tmp_path)
        assert result.returncode == 2
        assert "32-bit" in result.stderr and "Raspberry Pi OS (64-bit)" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not _commands(result.stdout)


def test_too_little_disk_or_memory_is_said_before_the_steps(tmp_path):
    disk = _run_with({"CALF_INSTALL_MIN_FREE_MB": "999999999"}, "--dry-run", "--user", "nobody", tmp_path=tmp_path)
    assert disk.returncode == 0 and "(a real run stops here)" in disk.stdout
    assert "MB free on" in disk.stderr and "free some space" in disk.stderr
    memory = _run_with({"CALF_INSTALL_MIN_MEMORY_MB": "999999999"}, "--dry-run", "--user", "nobody", tmp_path=tmp_path)
    assert "MB of memory" in memory.stderr and "at least 1 GB" in memory.stderr
    # The warning comes before the first step's commands.
    assert memory.stdout.index("(a real run stops here)") < memory.stdout.index("== 1/6")
    ample = _dry_run("--user", "nobody", tmp_path=tmp_path)
    assert "checked: 64-bit" in ample.stdout and "stops here" not in ample.stdout


def test_pipewire_keeps_the_sound_and_pulseaudio_is_not_installed_beside_it(tmp_path):
    env = _with_fakes(tmp_path, dpkg_query='[ "$3" = pipewire-pulse ] && echo "install ok installed" && exit 0; exit 1')
    result = _run_with(env, "--dry-run", "--user", "nobody", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    install = next(c for c in _commands(result.stdout) if "apt-get install" in c).split()
    assert "pulseaudio" not in install and "pulseaudio-utils" in install and "espeak-ng" in install
    assert "PipeWire" in result.stdout
    bare = _with_fakes(tmp_path, dpkg_query="exit 1")
    without = _run_with(bare, "--dry-run", "--user", "nobody", tmp_path=tmp_path)
    assert "pulseaudio" in next(c for c in _commands(without.stdout) if "apt-get install" in c).split()
    assert "PipeWire" not in without.stdout


def test_the_models_are_prepared_once(tmp_path):
    commands = _commands(_dry_run("--user", "nobody", tmp_path=tmp_path).stdout)
    setup = next(c for c in commands if c.endswith("scripts/setup"))
    assert "CALF_SETUP_PREPARE=no" in setup, "scripts/setup would prepare them before step 4 does"
    assert sum("models prepare" in c for c in commands) == 1
