"""`calf-assistant run` on PulseAudio virtual devices: a spoken question goes into the virtual
microphone, the answer comes out of the virtual speaker, and a recogniser checks what was said.

The assistant runs as a subprocess started after the daemon, so PortAudio finds the daemon's
devices at its start-up, as on a real machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.audio import load_wav
from assistant.knowledge import load_knowledge
from assistant.live import ACTIVATION_ENV, MAX_TURNS_ENV
from virtual_audio import RATE, voiced_seconds

REPO = Path(__file__).resolve().parents[2]
# Clear enough that the conversation explains at once instead of asking a yes/no question first.
QUESTION = ("My calf cramps when I walk, it goes away when I stand still, and I smoke. "
            "It starts after the same distance every time.")


def _words(text: str) -> set[str]:
    return {word.strip(".,;:!?()'\"").lower() for word in text.split() if len(word.strip(".,;:!?()'\"")) > 3}


def _start(env: dict[str, str], *arguments: str, config: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, **env}
    if config is not None:
        env["CALF_ASSISTANT_CONFIG"] = str(config)
    return subprocess.Popen([sys.executable, "-m", "assistant", *arguments], cwd=REPO, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture()
def brisk_config(tmp_path) -> Path:
    """Fast speech and the short mid-walk reply, so a whole spoken turn fits in a test."""
    path = tmp_path / "config.toml"
    path.write_text('language = "en"\nmid_walk = true\n[voice]\nrate = 1.5\n', encoding="utf-8")
    return path


def _one_spoken_turn(pulse, virtual_microphone, speaker_recording, said, config: Path):
    """`run` for one turn: `said` goes into the virtual microphone once the assistant has said it is
    ready. Returns what it printed, its stderr, its exit code, and what the speaker played after
    'ready'."""
    process = _start({**pulse.env, ACTIVATION_ENV: "auto", MAX_TURNS_ENV: "1"}, "run", config=config)
    try:
        # The assistant first says it is ready (microphone muted); speak only once it has finished.
        ready_end = speaker_recording.wait_for_speech(then_silence=1.0, timeout=90)
        virtual_microphone.say(said)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    heard = speaker_recording.stop()
    return out, err, process.returncode, heard[int(ready_end * RATE):]


def _log(home: Path) -> str:
    path = home / "state" / "calf-assistant" / "calf-assistant.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_a_spoken_question_is_answered_on_the_speaker(pulse, virtual_microphone, speaker_recording, speech,
                                                      tmp_path, brisk_config, _private_homes):
    question = load_wav(speech.speak(QUESTION, tmp_path / "question.wav", voice="en-us"))
    out, err, code, spoken_reply = _one_spoken_turn(pulse, virtual_microphone, speaker_recording, question,
                                                    brisk_config)
    assert code == 0, err
    assert "Traceback" not in err

    pack = load_knowledge().pack("en")
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == pack.reply("ready_hands_free")
    # Whatever the conversation answers (an explanation or its first question), it answered.
    reply = lines[-1]
    assert len(lines) >= 2 and reply not in (pack.reply("ready_hands_free"), pack.reply("heard_nothing")), out

    assert voiced_seconds(spoken_reply) > 2.0, "the answer was spoken, not only printed"
    # hibari, the natural English voice, was loaded before 'ready' and spoke every sentence.
    log = _log(_private_homes)
    assert "voice loaded: hibari heart" in log and "espeak-ng instead" not in log, log

    from assistant.recognition import recognise

    recognised = _words(recognise(spoken_reply, "en").text)
    expected = _words(reply)
    assert len(recognised & expected) >= 0.4 * len(expected), (recognised, expected)


# espeak-ng's plain Indonesian voice says this so that Whisper base doubts what it heard (confidence
# about 0.25; test_recognition.test_listen_says_how_sure_it_is checks the same recording offline).
DOUBTFUL = "Ada bunyi krek di tumit belakang, sekarang saya tidak bisa menapak dengan kaki itu."


def test_a_description_heard_unsure_is_asked_for_again_on_the_speaker(pulse, virtual_microphone, speaker_recording,
                                                                     speech, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('language = "id"\n[voice]\nrate = 1.5\n', encoding="utf-8")
    # With pink noise 6 dB under it every part of the sentence is doubtful (confidence about 0.2):
    # clean, it is doubtful as a file, but a capture that misses its opening words can hear the
    # rest sure enough and answer it.
    said = load_wav(speech.with_noise_below(speech.speak(DOUBTFUL, tmp_path / "doubtful.raw.wav", "id"),
                                            tmp_path / "doubtful.wav", 6))
    out, err, code, spoken_reply = _one_spoken_turn(pulse, virtual_microphone, speaker_recording, said, config)
    assert code == 0 and "Traceback" not in err, err
    pack = load_knowledge().pack("id")
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1] == pack.reply("heard_unsure"), out
    assert voiced_seconds(spoken_reply) > 1.5, "the request was spoken, not only printed"


def test_ctrl_c_ends_the_live_loop_cleanly(pulse, virtual_microphone, speaker_recording, brisk_config):
    process = _start({**pulse.env, ACTIVATION_ENV: "auto"}, "run", config=brisk_config)
    try:
        speaker_recording.wait_for_speech(min_voiced=0.5, timeout=90)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_without_a_microphone_the_typed_conversation_is_offered(tmp_path):
    nowhere = {"PULSE_SERVER": f"unix:{tmp_path}/no-sound-server"}
    process = _start(nowhere, "run", "--lang", "en")
    out, err = process.communicate(QUESTION + "\n", timeout=120)
    assert process.returncode == 0, err
    pack = load_knowledge().pack("en")
    assert pack.reply("no_microphone") in out
    assert pack.reply("typed_prompt") in out
    replies = out.split(pack.reply("typed_prompt"), 1)[1].strip()
    assert replies, "the typed line was answered"
    assert err.count("\n") == 1 and "no microphone" in err, err


def test_typed_flag_skips_the_microphone(pulse):
    process = _start(pulse.env, "run", "--typed", "--lang", "id")
    out, err = process.communicate("betis saya kram kalau berjalan\n", timeout=120)
    assert process.returncode == 0, err
    pack = load_knowledge().pack("id")
    assert pack.reply("typed_prompt") in out and pack.reply("no_microphone") not in out
    assert len(out.splitlines()) >= 2 and err == ""


def test_the_microphone_hears_the_virtual_microphone_in_process(pulse, virtual_microphone, speech, tmp_path):
    """The audio layer under `run`: device, queue, resampling and end-of-speech on real PulseAudio."""
    from assistant.devices import Microphone
    from assistant.endpoint import END_OF_SPEECH, EndpointConfig, capture

    question = load_wav(speech.speak(QUESTION, tmp_path / "question.wav", voice="en-gb"))
    with Microphone("pulse") as microphone:
        microphone.flush()
        virtual_microphone.say(question)
        started = time.monotonic()
        utterance = capture(microphone.blocks(), EndpointConfig(listen_timeout=10))
    assert utterance.reason == END_OF_SPEECH
    assert abs(utterance.speech_seconds - len(question) / RATE) < 1.5
    assert time.monotonic() - started < len(question) / RATE + 3.0
