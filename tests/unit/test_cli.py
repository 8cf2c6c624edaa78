"""Command-line behaviour that is not any one stage's: broken settings and usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args, env=None, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PULSE_SERVER": "unix:/nonexistent", **(env or {})},
    )


BROKEN = {
    "not toml": "[emergency\nen = 1\n",
    "bad value": 'language = "fr"\n',
    "unknown key": "chat_x = 3\n",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize(
    ("command", "stdin"),
    [(["ask", "--json", "I passed out on my walk"], ""), (["chat", "--json"], "I passed out on my walk\n")],
)
def test_broken_settings_never_silence_the_emergency_number(tmp_path, broken, command, stdin):
    """ask and chat, like run, answer on the defaults; one line on stderr names the file and the fix."""
    config = tmp_path / "config.toml"
    config.write_text(BROKEN[broken])
    result = run("--config", str(config), *command, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and str(config) in result.stderr
    assert "running with default settings" in result.stderr and "doctor" in result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["triage"] == "emergency" and "fainting" in answer["red_flags"]
    assert "112" in answer["reply"]


def test_a_bad_emergency_flag_is_still_a_usage_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(BROKEN["bad value"])
    result = run("--config", str(config), "--emergency", "call-me", "ask", "my calf cramps")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_broken_settings_do_not_silence_the_live_loop(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[voice]\nrate = 'fast'\n")
    result = run("run", env={"CALF_ASSISTANT_CONFIG": str(config)}, stdin="my calf is swollen and red\n")
    assert result.returncode == 0
    assert "running with default settings" in result.stderr
    assert "112" in result.stdout  # the urgent advice still names the emergency number


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2 and "ask" in result.stdout


def test_both_ways_of_starting_the_program_end_through_the_sound_safe_exit():
    """`./scripts/run` and the service start `calf-assistant` and `python -m assistant`; both must
    go through cli.program, whose exit after sound keeps a clean Ctrl-C from crashing at teardown."""
    from importlib.metadata import entry_points

    (script,) = [point for point in entry_points(group="console_scripts") if point.name == "calf-assistant"]
    assert script.value == "assistant.cli:program"
    main_module = Path(__file__).resolve().parents[2] / "assistant" / "__main__.py"
    assert "program()" in main_module.read_text(encoding="utf-8")
