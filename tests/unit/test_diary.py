"""The caregiver's diary: written by real conversations, read back, private, exportable."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path


from assistant import diary
from assistant.config import DiarySettings, Settings, data_home
from assistant.dialogue import Dialogue

ROOT = Path(__file__).resolve().parents[2]


def conversation(lines: list[str], language: str = "en"):
    dialogue = Dialogue(Settings())
    state, _ = dialogue.start(language)
    for line in lines:
        state, _ = dialogue.step(state, line)
    return state


def saved(lines: list[str], settings: Settings | None = None, **kwargs) -> diary.Entry:
    state = conversation(lines)
    entry = diary.entry_from(state, "2026-01-02T03:04:05+00:00", **kwargs)
    diary.save(entry, settings or Settings())
    return entry


def test_written_and_read_back():
    entry = saved(["my calf cramps when I walk", "yes"])
    [loaded] = diary.load()
    assert loaded.id == 1
    assert loaded.heard == ("my calf cramps when I walk", "yes")
    assert loaded.said == entry.said and len(loaded.said) == 3  # greeting, question, advice
    assert loaded.triage == entry.triage and loaded.causes == entry.causes
    assert "cramp" in loaded.present and loaded.language == "en"
    assert loaded.started_at == "2026-01-02T03:04:05+00:00" and loaded.ended_at.endswith("+00:00")


def test_private_file_and_folder():
    saved(["my calf cramps when I walk"])
    path = diary.diary_path()
    assert path.parent == data_home()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_existing_open_folder_is_made_private():
    data_home().mkdir(parents=True, mode=0o755)
    os.chmod(data_home(), 0o755)
    saved(["my calf cramps when I walk"])
    assert stat.S_IMODE(data_home().stat().st_mode) == 0o700


def test_schema_is_versioned():
    saved(["my calf cramps when I walk"])
    with sqlite3.connect(diary.diary_path()) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == diary.SCHEMA_VERSION


def test_a_diary_from_a_newer_release_is_kept_aside_and_a_fresh_one_started(capsys):
    saved(["my calf cramps when I walk"])
    with sqlite3.connect(diary.diary_path()) as connection:
        connection.execute(f"PRAGMA user_version = {diary.SCHEMA_VERSION + 1}")
    saved(["my calf hurts"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer calf-assistant" in err and "started a new one" in err
    kept = list(diary.diary_path().parent.glob("diary.sqlite3.newer-*"))
    assert len([k for k in kept if not k.name.endswith(("-wal", "-shm"))]) == 1
    with sqlite3.connect(min(kept)) as connection:  # untouched, version and entry
        assert connection.execute("PRAGMA user_version").fetchone()[0] == diary.SCHEMA_VERSION + 1
    assert [entry.heard for entry in diary.load()] == [("my calf hurts",)]


def test_a_corrupt_diary_is_kept_aside_and_a_fresh_one_started(capsys):
    saved(["my calf cramps when I walk"])
    path = diary.diary_path()
    for side in path.parent.glob("diary.sqlite3-*"):
        side.unlink()
    path.write_bytes(b"this is not a database at all" * 200)
    saved(["my calf hurts"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged" in err
    assert list(path.parent.glob("diary.sqlite3.broken-*"))
    assert [entry.heard for entry in diary.load()] == [("my calf hurts",)]


def test_reading_a_corrupt_diary_is_a_one_line_reason_and_changes_nothing():
    path = diary.diary_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 500)
    result = run_cli("diary")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "cannot be read" in result.stderr
    assert path.read_bytes() == b"garbage" * 500


def test_each_turn_is_on_disk_as_it_happens():
    from assistant.chat import Conversation

    talk = Conversation(Settings())
    talk("my calf cramps when I walk")
    [entry] = diary.load()
    assert entry.heard == ("my calf cramps when I walk",) and entry.in_progress and not entry.finished
    talk("yes")  # to the clot screen: the urgent advice, then the breath screen
    [entry] = diary.load()
    # the danger is on disk before its advice is spoken
    assert entry.heard == ("my calf cramps when I walk", "yes") and len(entry.said) == 3
    assert entry.red_flags == ("dvt",) and entry.triage == "urgent" and entry.in_progress
    talk("no")
    [entry] = diary.load()
    assert entry.red_flags == ("dvt",) and entry.finished and not entry.in_progress
    assert len(entry.heard) == 3 and len(entry.said) == 4
    with sqlite3.connect(diary.diary_path()) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_audio_is_kept_only_when_allowed():
    recording = b"RIFF....WAVE"
    saved(["my calf cramps when I walk"], audio=(recording,))
    keep = replace(Settings(), diary=DiarySettings(keep_audio=True))
    saved(["my calf cramps when I walk"], keep, audio=(recording,))
    with sqlite3.connect(diary.diary_path()) as connection:
        rows = connection.execute(
            "SELECT conversation_id, audio FROM turns WHERE speaker = 'person' ORDER BY conversation_id"
        ).fetchall()
    assert rows == [(1, None), (2, recording)]


def test_newest_first_and_limit():
    saved(["my calf cramps when I walk"])
    state = conversation(["my calf hurts"])
    diary.save(diary.entry_from(state, "2026-05-01T00:00:00+00:00"), Settings())
    entries = diary.load(limit=1)
    assert len(entries) == 1 and entries[0].started_at.startswith("2026-05-01")


def test_csv_export_has_every_entry_and_defuses_formulas():
    saved(["=HYPERLINK(\"x\") my calf cramps when I walk"])
    saved(["my calf hurts and it is swollen and red and warm"])
    buffer = io.StringIO()
    diary.write_csv(diary.load(), buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert len(rows) == 2
    assert list(rows[0]) == list(diary.CSV_COLUMNS)
    flagged = [row for row in rows if row["red_flags"]]
    assert flagged and "dvt" in flagged[0]["red_flags"]
    assert all(not row["heard"].startswith("=") for row in rows)


def run_cli(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *arguments],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, env=os.environ.copy(),
    )


def test_chat_saves_and_diary_lists_red_flags_first_to_the_eye(tmp_path):
    result = run_cli("chat", "--json", stdin="my calf cramps when I walk\nstart over\n"
                     "my calf hurts and it is swollen and red and warm\n")
    assert result.returncode == 0, result.stderr
    listing = run_cli("diary")
    assert listing.returncode == 0, listing.stderr
    assert diary.RED_FLAG_MARK in listing.stdout and "dvt" in listing.stdout
    flagged_line = next(line for line in listing.stdout.splitlines() if line.startswith(diary.RED_FLAG_MARK + ":"))
    assert "dvt" in flagged_line

    export = tmp_path / "diary.csv"
    assert run_cli("diary", "--csv", str(export)).returncode == 0
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert len(list(csv.DictReader(export.open()))) == 1

    as_json = json.loads(run_cli("diary", "--json").stdout)
    assert as_json[0]["red_flags"] == ["dvt"] and as_json[0]["triage"] == "urgent"
    assert "my calf cramps when I walk" in as_json[0]["heard"]  # start over keeps the transcript


def test_diary_to_stdout_as_csv():
    run_cli("chat", stdin="my calf cramps when I walk\nstop\n")
    result = run_cli("diary", "--csv", "-")
    assert result.returncode == 0 and result.stdout.startswith("id,started_at")


def test_empty_diary_says_so():
    result = run_cli("diary")
    assert result.returncode == 0 and "empty" in result.stdout


def test_saving_failure_does_not_break_the_conversation():
    # The data folder is a file: the diary cannot be created, the person still gets answers.
    data_home().parent.mkdir(parents=True, exist_ok=True)
    data_home().write_text("not a folder")
    result = run_cli("chat", "--json", stdin="my calf cramps when I walk\nstop\n")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 3
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == 1 and "diary" in errors[0]


def test_disabled_diary_writes_nothing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[diary]\nenabled = false\n")
    result = run_cli("--config", str(config), "chat", stdin="my calf cramps when I walk\nstop\n")
    assert result.returncode == 0
    assert not diary.diary_path().exists()


def test_a_full_disk_loses_no_turn_once_there_is_room_again(capsys):
    """While the diary cannot be written the person is still answered; conversations that ended
    meanwhile are written once it can, with one line at each change."""
    from assistant.chat import Conversation

    data_home().parent.mkdir(parents=True, exist_ok=True)
    data_home().write_text("not a folder, as good as a full disk for sqlite")
    talk = Conversation(Settings())
    for text in ["my calf cramps when I walk", "no", "stop", "my calf hurts when I walk"]:
        assert talk(text)
    data_home().unlink()
    talk("no")
    talk("stop")
    entries = sorted(diary.load(), key=lambda entry: entry.id)
    assert [entry.heard for entry in entries] == [
        ("my calf cramps when I walk", "no", "stop"), ("my calf hurts when I walk", "no", "stop")]
    assert all(entry.finished and not entry.in_progress for entry in entries)
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 2 and "could not save to the diary" in lines[0] and "written again" in lines[1], lines
