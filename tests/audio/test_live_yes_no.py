"""The conversation in `calf-assistant run` on PulseAudio virtual devices: a spoken story, a spoken
question back, a spoken "yes" heard with the yes/no grammar and counted as the answer.

The diary (what the conversation kept) shows which finding the "yes" was recorded for, so the
test does not depend on which question triage picked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assistant.audio import load_wav
from assistant.knowledge import load_knowledge
from assistant.live import ACTIVATION_ENV, MAX_TURNS_ENV

REPO = Path(__file__).resolve().parents[2]


def test_a_spoken_yes_answers_the_spoken_question(pulse, virtual_microphone, speaker_recording, speech, tmp_path):
    config = tmp_path / "config.toml"
    # Fast speech keeps the test short; mid-walk mode keeps the replies short too.
    config.write_text('language = "en"\nmid_walk = true\n[voice]\nrate = 1.5\n', encoding="utf-8")
    story = load_wav(speech.speak("I get a cramp in my calf when I walk.", tmp_path / "story.wav", voice="en-us"))
    yes = load_wav(speech.speak("Yes.", tmp_path / "yes.wav", voice="en-us"))
    env = {**os.environ, **pulse.env, ACTIVATION_ENV: "auto", MAX_TURNS_ENV: "2", "CALF_ASSISTANT_CONFIG": str(config)}
    process = subprocess.Popen([sys.executable, "-m", "assistant", "run"], cwd=REPO, env=env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready_end = speaker_recording.wait_for_speech(then_silence=1.0, timeout=90)
        virtual_microphone.say(story)
        speaker_recording.wait_for_speech(ready_end, then_silence=1.0, timeout=90)
        virtual_microphone.say(yes)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err

    pack = load_knowledge().pack("en")
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == pack.reply("ready_hands_free")
    # the first question is a danger screen; a spoken yes to it must escalate like a volunteered sign
    question = next((qid for qid in [*pack.questions, *pack.screens] if lines[1].endswith(pack.question_text(qid))), None)
    assert question, out
    assert pack.reply("answer_unclear") not in lines[2], out

    entries = json.loads(subprocess.run([sys.executable, "-m", "assistant", "diary", "--json"], cwd=REPO, env=env,
                                        capture_output=True, text=True, timeout=60, check=True).stdout)
    heard = entries[0]["heard"]
    assert len(heard) == 2 and "yes" in heard[1].lower(), heard
    assert load_knowledge().rules.asked_finding(question) in entries[0]["present"]
    assert entries[0]["triage"] in ("urgent", "emergency") and entries[0]["red_flags"], entries[0]
