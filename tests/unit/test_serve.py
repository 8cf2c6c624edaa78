"""`calf-assistant serve` driven by a real Wyoming client (the `wyoming` package's AsyncTcpClient)
over TCP on 127.0.0.1, the way Home Assistant's Wyoming conversation agent talks to it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info

from assistant.knowledge import load_knowledge
from assistant.serve import Conversations, spoken_language
from processes import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0


class Service:
    """The real `calf-assistant serve` process on a free port."""

    def __init__(self, *extra: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--uri", f"tcp://127.0.0.1:{self.port}", *extra],
            cwd=ROOT, env=os.environ.copy(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        wait_until_listening(self.port, self.process, TIMEOUT)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=TIMEOUT)
        finally:
            self.process.kill()
        return code, self.process.stderr.read()


@pytest.fixture
def service():
    running = Service("--idle-seconds", "600")
    yield running
    running.stop()


async def ask(port: int, text: str, conversation_id: str | None, language: str):
    context = {"conversation_id": conversation_id, "device_id": "satellite-1", "satellite_id": "hall"}
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcript(text=text, language=language, context=context).event())
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
    if Handled.is_type(event.type):
        return "handled", Handled.from_event(event)
    assert NotHandled.is_type(event.type), event
    return "not-handled", NotHandled.from_event(event)


def talk(port: int, lines: list[str], conversation_id: str, language: str) -> list[str]:
    replies = []
    for line in lines:
        kind, answer = asyncio.run(ask(port, line, conversation_id, language))
        assert kind == "handled" and answer.context["conversation_id"] == conversation_id
        replies.append(answer.text)
    return replies


def test_describe_lists_a_handle_program_for_english_and_indonesian(service):
    async def describe():
        async with AsyncTcpClient("127.0.0.1", service.port) as client:
            await client.write_event(Describe().event())
            return Info.from_event(await asyncio.wait_for(client.read_event(), TIMEOUT))

    info = asyncio.run(describe())
    assert len(info.handle) == 1 and info.handle[0].name == "calf-assistant" and info.handle[0].installed
    languages = {language for model in info.handle[0].models for language in model.languages}
    assert languages == {"en", "id"}


@pytest.mark.parametrize(
    ("language", "lines", "flag"),
    [
        ("en", ["my calf has been hurting for two days", "yes", "no"], "dvt"),
        ("id", ["betis saya sudah dua hari ini sakit", "iya", "nggak"], "dvt"),
        ("en", ["my calf cramps when I walk", "no", "yes, I fainted on the hill"], "fainting"),
    ],
)
def test_a_whole_conversation_with_a_red_flag_and_the_number(service, language, lines, flag):
    pack = load_knowledge().pack(language)
    replies = talk(service.port, lines, f"conv-{language}-{flag}", language)
    assert replies[0].startswith(pack.reply("screen_intro"))
    assert pack.question_text("clot_signs") in replies[0]
    assert "112" in replies[-1] and pack.reply("disclaimer") in replies[-1]
    assert pack.red_flags[flag].name in replies[-1]


def test_two_conversations_at_once_keep_their_own_dialogue(service):
    async def interleaved():
        a = await ask(service.port, "my calf cramps when I walk", "conversation-a", "en")
        b = await ask(service.port, "betis saya kram kalau jalan", "conversation-b", "id")
        a2 = await ask(service.port, "no", "conversation-a", "en")
        b2 = await ask(service.port, "iya", "conversation-b", "id")
        return a, b, a2, b2

    a, b, a2, b2 = asyncio.run(interleaved())
    en, id_ = load_knowledge().pack("en"), load_knowledge().pack("id")
    assert a[1].text.endswith(en.question_text("clot_signs")) and b[1].text.endswith(id_.question_text("clot_signs"))
    # a's "no" moved a on to the next screen; b's "iya" to the clot screen raised the clot advice
    assert a2[1].text.endswith(en.question_text("breath_chest_faint")) and "112" not in a2[1].text
    assert id_.red_flags["dvt"].name in b2[1].text and "112" in b2[1].text


def test_empty_input_is_not_handled(service):
    kind, answer = asyncio.run(ask(service.port, "   ", "conversation-empty", "en"))
    assert kind == "not-handled" and answer.text == load_knowledge().pack("en").reply("empty_input")


def test_a_silent_conversation_is_closed_into_the_diary():
    running = Service("--idle-seconds", "1")
    try:
        talk(running.port, ["my calf cramps when I walk"], "conversation-silent", "en")
        time.sleep(2.5)
        # the next transcript (any conversation) sweeps the silent one into the diary
        talk(running.port, ["my calf hurts when I walk"], "conversation-next", "en")
    finally:
        code, err = running.stop()
    assert code == 0 and "Traceback" not in err
    entries = json.loads(subprocess.run([sys.executable, "-m", "assistant", "diary", "--json"], cwd=ROOT,
                                        capture_output=True, text=True, timeout=60, check=True).stdout)
    heard = sorted(entry["heard"][0] for entry in entries)
    # the silent one closed when idle, the other when the service was stopped: nothing is lost
    assert heard == ["my calf cramps when I walk", "my calf hurts when I walk"]


def test_a_bad_address_is_a_one_line_usage_error():
    result = subprocess.run([sys.executable, "-m", "assistant", "serve", "--uri", "http://127.0.0.1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "tcp://" in result.stderr


def test_a_busy_port_is_a_one_line_reason():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "assistant", "serve", "--uri", f"tcp://127.0.0.1:{port}"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot listen" in result.stderr.splitlines()[-1]


def test_languages_from_home_assistant_tags():
    assert spoken_language("en-US", "id") == "en" and spoken_language("id_ID", "en") == "id"
    assert spoken_language("fr-FR", "en") == "en" and spoken_language(None, "id") == "id"


def test_conversations_close_after_silence_with_a_clock():
    now = [0.0]
    settings = __import__("assistant.config", fromlist=["Settings"]).Settings()
    conversations = Conversations(settings, idle_seconds=10, clock=lambda: now[0])
    conversations.reply("a", "my calf cramps when I walk", "en")
    now[0] = 5.0
    conversations.reply("b", "my calf cramps when I walk", "en")
    now[0] = 12.0
    conversations.close_idle()
    assert set(conversations.open) == {"b"}


async def _resolve(name: str):
    from zeroconf.asyncio import AsyncZeroconf

    from assistant.serve import SERVICE_TYPE

    browser = AsyncZeroconf()
    try:
        return await browser.async_get_service_info(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", timeout=3000)
    finally:
        await browser.async_close()


def test_zeroconf_advertises_the_service_to_a_real_browser_and_withdraws_it():
    """Home Assistant finds Wyoming services by mDNS; a real zeroconf browser in this process looks
    the service up over multicast while it runs, and no longer finds it once it has stopped."""
    name = f"calf-test-{os.getpid()}"
    running = Service("--zeroconf", name)
    try:
        found = asyncio.run(_resolve(name))
        assert found is not None, "the service was not advertised"
        assert found.port == running.port and "127.0.0.1" in found.parsed_addresses()
    finally:
        code, stderr = running.stop()
    assert code == 0 and f"advertised as '{name}'" in stderr, stderr
    assert asyncio.run(_resolve(name)) is None, "the advertisement outlived the service"


def test_zeroconf_missing_is_one_line_and_the_service_still_answers(tmp_path):
    blocker = tmp_path / "zeroconf"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('zeroconf is not installed here')\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--uri", f"tcp://127.0.0.1:{port}", "--zeroconf"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(tmp_path)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_listening(port, process, TIMEOUT)
        kind, handled = asyncio.run(ask(port, "my calf cramps when I walk", "c-1", "en"))
        assert kind == "handled" and handled.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=TIMEOUT)
    lines = [line for line in process.stderr.read().splitlines() if "zeroconf" in line]
    assert len(lines) == 1 and "discovery" in lines[0], lines
