"""`calf-assistant ask` through the real command line: the JSON contract, safety wording, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

LEVELS = {"none", "self_care", "routine", "urgent", "emergency"}


def ask(*args: str | bytes, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", "ask", *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
    )


def ask_json(*args: str, env: dict | None = None) -> dict:
    result = ask("--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_contract():
    answer = ask_json("my calf cramps when I walk but it gets better when I sit down")
    assert set(answer) == {"lang", "triage", "red_flags", "causes", "reply"}
    assert answer["lang"] == "en"
    assert answer["triage"] in LEVELS
    scores = [cause["score"] for cause in answer["causes"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)
    assert answer["causes"][0]["id"] == "spinal_stenosis"
    assert "not a doctor" in answer["reply"].lower()


def test_plain_text_reply_and_indonesian_auto_detection():
    result = ask("--lang", "auto", "betis saya kram kalau jalan, enakan kalau duduk")
    assert result.returncode == 0
    assert "dokter" in result.stdout.decode().lower()
    answer = ask_json("--lang", "auto", "betis saya kram kalau jalan, enakan kalau duduk")
    assert answer["lang"] == "id"


@pytest.mark.parametrize(
    "env, lang, expected",
    [
        ({}, "en", "112"),
        ({"CALF_ASSISTANT_EMERGENCY": "911"}, "en", "911"),
        ({}, "id", "119"),
    ],
)
def test_emergency_replies_say_the_configured_number(env, lang, expected):
    text = {
        "en": "my calf is swollen and now I have chest pain and can't breathe",
        "id": "betis saya bengkak dan sekarang dada sakit, sesak napas",
    }[lang]
    answer = ask_json("--lang", lang, text, env=env)
    assert answer["triage"] == "emergency"
    assert "pulmonary_embolism" in answer["red_flags"]
    assert expected in answer["reply"]


def test_emergency_number_flag():
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "--emergency", "999", "ask", "--json", "my calf is swollen, red and warm"],
        capture_output=True, text=True,
    )
    answer = json.loads(result.stdout)
    assert answer["triage"] == "urgent" and "dvt" in answer["red_flags"]
    assert "999" in answer["reply"]


def test_out_of_domain_is_none_with_a_kind_reply():
    answer = ask_json("what time is it")
    assert answer["triage"] == "none" and answer["causes"] == [] and answer["red_flags"] == []
    assert answer["reply"]


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "🦵"])
def test_empty_and_emoji_get_a_clear_reply(text):
    answer = ask_json(text)
    assert answer["triage"] == "none"
    assert answer["reply"]


def test_mixed_languages_are_answered():
    answer = ask_json("--lang", "auto", "betis saya cramp when I walk, sakit banget")
    assert answer["triage"] != "none"


@pytest.mark.parametrize(
    "argument",
    ["x" * 100_000, b"\xff\xfe\x00\x01binary".replace(b"\x00", b""), "\x01\x02\x03\x04\x05\x06\x07\x08"],
)
def test_bad_text_is_one_line_and_exit_2(argument):
    result = ask(argument)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]


def test_bad_usage_is_exit_2():
    result = subprocess.run([sys.executable, "-m", "assistant", "ask", "--lang", "fr", "x"], capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
