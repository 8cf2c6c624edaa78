"""The built wheel carries intents/ and voices/ and works outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_answers_from_an_unrelated_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    wheel = next(wheels.glob("calf_assistant-*.whl"))
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    subprocess.run([environment / "bin" / "python", "-m", "pip", "install", "-q", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [environment / "bin" / "calf-assistant", "ask", "--json", "my calf cramps when i walk"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["lang"] == "en"
    assert answer["triage"] in ("self_care", "routine")
    installed = subprocess.run(
        [environment / "bin" / "python", "-c", "import assistant, pathlib; print(pathlib.Path(assistant.__file__).parent)"],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert (Path(installed) / "intents" / "en" / "findings.yaml").is_file()
    assert (Path(installed) / "voices" / "id.toml").is_file()
