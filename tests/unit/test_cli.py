"""Command-line behaviour that is not any one stage's: broken settings and usage errors."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args, env=None, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PULSE_SERVER": "unix:/nonexistent", **(env or {})},
    )


def test_broken_settings_stop_ask_with_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('language = "fr"\n')
    result = run("ask", "my calf cramps", env={"CALF_ASSISTANT_CONFIG": str(config)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "language must be one of" in result.stderr


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
