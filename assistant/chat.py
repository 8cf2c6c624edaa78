"""The conversation with its side effects: `calf-assistant chat` (typed, or heard from WAV files)
and the turn function of `calf-assistant run`.

Above both the dialogue (assistant.dialogue, plain data in and out) and the live loop
(assistant.live, the microphone and the speaker): this is where the two meet, so the live loop
deals in any callable turn function and never imports the conversation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import TextIO

from assistant import alerts
from assistant.config import Settings, VoiceSettings, load_settings, save_settings
from assistant.dialogue import AUTO, YES_NO, Dialogue, State, Turn
from assistant.errors import AssistantError
from assistant.matching import listening_phrases


def remember_voice(voice: VoiceSettings, path=None) -> None:
    """Save a new voice in the settings file, keeping everything else the file says.

    The file is re-read without environment or flag overrides, so a one-off --emergency or
    --mid-walk does not become permanent.
    """
    stored = load_settings(path, use_environment=False)
    save_settings(replace(stored, voice=voice), path)


# ---- `calf-assistant chat` ------------------------------------------------------------------


def _print_turn(turn: Turn, as_json: bool) -> None:
    if as_json:
        print(json.dumps(turn.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(turn.reply, flush=True)


def _decode(raw: bytes) -> str:
    # surrogateescape keeps undecodable bytes visible to check_text, which refuses them kindly.
    return raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n")


def _warn(what: str, error: Exception) -> None:
    print(f"calf-assistant: {what}: {error}", file=sys.stderr, flush=True)


UNSAVED_LIMIT = 100
"""Conversations that ended while the diary could not be written, kept in memory until it can
(a few kilobytes each); past this many the oldest is dropped."""


def _with_full_disk(error: Exception) -> str:
    """SQLite says "disk I/O error" when the disk fills under its shared-memory file; say why."""
    import shutil

    from assistant import diary

    try:
        full = shutil.disk_usage(diary.diary_path().parent).free < 256 * 1024
    except OSError:
        full = False
    return f"{error} (its disk is full: {diary.diary_path().parent})" if full else str(error)


class _DiaryKeeper:
    """Writes the conversation to the diary turn by turn, so a kill loses at most the turn in flight."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.record = None
        self.failing = False
        """One line when writing starts to fail, and one when it works again; not one per turn."""
        self.unsaved: list = []
        """(record, entry) of conversations that ended while writing failed (a full disk), written
        before anything else once writing works again."""
        self.alerts = alerts.Watch(settings)
        """Caregiver alerts, stored with the turn that raised them."""

    def keep(self, state: State, started: str, *, finished: bool, closed: bool) -> None:
        raised = self.alerts.raised(state, self.settings, closed=closed)
        if not self.settings.diary.enabled or not state.meaningful:
            self.alerts.after(raised, self.settings, written=False)
            return
        entry = None
        written = False
        try:
            from assistant import diary

            if self.record is None:
                self.record = diary.Record(self.settings)
            entry = diary.entry_from(state, started, finished=finished)
            while self.unsaved:
                record, ended = self.unsaved[0]
                record.write(ended, closed=True)
                self.unsaved.pop(0)
            self.record.write(entry, closed=closed, alerts=raised)
            written = True
            if self.failing:
                print("calf-assistant: the diary is written again", file=sys.stderr, flush=True)
            self.failing = False
        except Exception as error:  # the diary is a record, never a reason to stop helping
            if not self.failing:
                _warn("could not save to the diary", _with_full_disk(error))
            self.failing = True
            if closed and entry is not None:
                self.unsaved = [*self.unsaved, (self.record, entry)][-UNSAVED_LIMIT:]
        self.alerts.after(raised, self.settings, written=written)
        if closed:
            self.record = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Conversation:
    """The dialogue with its state and its side effects, for loops that deal in text.

    Calling it with what the person said returns what to say (the live loop's turn function);
    on the way it remembers a slower or louder voice in the settings file and keeps finished
    conversations in the diary. `expect`, `language` and `settings` tell the loop how to listen
    and speak next.
    """

    def __init__(self, settings: Settings, config_path=None, dialogue: Dialogue | None = None):
        self.dialogue = dialogue or Dialogue(settings)
        self.settings = settings
        self.config_path = config_path
        self.state, self.turn = self.dialogue.start(settings.language)
        self.started = _now()
        self.diary = _DiaryKeeper(settings)

    @property
    def greeting(self) -> str:
        return self.state.said[0] if self.state.said else self.turn.reply

    @property
    def expect(self) -> str:
        return self.turn.expect

    @property
    def language(self) -> str | None:
        """The conversation's language, or None while it is still listening for it."""
        return None if self.state.language == AUTO else self.state.language

    @property
    def asking_about_danger(self) -> bool:
        """The pending question is a danger screen, where a misheard no would deny a danger sign."""
        pending = self.state.pending
        return self.expect == YES_NO and pending is not None and self.dialogue.knowledge.rules.screen(pending) is not None

    def listening_phrases(self) -> list[str] | None:
        """A grammar for the next utterance: answers and commands after a yes/no question."""
        if self.expect != YES_NO:
            return None
        return listening_phrases(self.dialogue.knowledge.pack(self.language or "en"))

    def __call__(self, text: str, *, unsure: bool = False, alternatives: tuple[str, ...] = ()) -> str:
        if self.state.done:
            self.started = _now()
        was_done = self.state.done
        self.state, self.turn = self.dialogue.step(self.state, text, unsure=unsure, alternatives=alternatives)
        if self.turn.voice is not None:
            self.settings = replace(self.settings, voice=self.turn.voice)
            try:
                remember_voice(self.turn.voice, self.config_path)
            except (AssistantError, OSError) as error:
                _warn("could not remember the voice setting", error)
        if not (was_done and self.turn.command == "repeat"):
            # On disk before the reply is spoken: a danger episode is kept even if the power goes.
            self.diary.keep(self.state, self.started, finished=self.turn.done, closed=self.turn.done)
        return self.turn.reply

    def heard_unsure(self, text: str) -> str:
        """The turn for a transcript the recogniser doubts (the live loop calls this instead)."""
        return self(text, unsure=True)

    def heard_with_doubts(self, text: str, *, unsure: bool, alternatives: tuple[str, ...]) -> str:
        """The turn for a transcript the recogniser doubts or read in other ways as well."""
        return self(text, unsure=unsure, alternatives=alternatives)

    def misheard(self) -> str:
        """An answer the hearing could not tell apart (yes or no?): the question again, no guess."""
        self.state, self.turn = self.dialogue.misheard(self.state)
        self.diary.keep(self.state, self.started, finished=self.turn.done, closed=self.turn.done)
        return self.turn.reply

    def use_settings(self, settings: Settings) -> None:
        """Settings read again (SIGHUP) from the next turn on; what was said so far stays."""
        self.settings = settings
        self.dialogue = replace(self.dialogue, settings=settings)
        self.diary.settings = settings

    def close(self) -> None:
        """End of input or Ctrl-C in the middle: what was said so far still belongs in the diary."""
        if not self.state.done:
            self.diary.keep(self.state, self.started, finished=False, closed=True)


def chat_command(args, settings: Settings) -> int:
    """One user turn per line on standard input; a reply (or JSON object) per line, at once."""
    conversation = Conversation(settings, getattr(args, "config", None))
    _print_turn(conversation.turn, args.json)
    stream = sys.stdin.buffer
    if getattr(args, "audio", False):
        return _audio_chat(conversation, stream, args.json)
    try:
        while True:
            raw = stream.readline()
            if not raw:
                break
            conversation(_decode(raw))
            _print_turn(conversation.turn, args.json)
    finally:
        conversation.close()
    return 0


def _audio_chat(conversation: Conversation, stream, as_json: bool) -> int:
    """`chat --audio`: the same conversation heard from WAV files, by the live loop's own turn."""
    from assistant.live import Ears, audio_chat

    try:
        return audio_chat(conversation, Ears(conversation.settings), stream, sys.stdout, as_json=as_json)
    finally:
        conversation.close()


# ---- `calf-assistant run` -------------------------------------------------------------------


def conversation_turns(settings: Settings, config_path=None) -> Conversation:
    """The conversation as the live loop's turn function: a callable with memory, asked how to
    listen next."""
    return Conversation(settings, config_path)


def run_command(args, settings: Settings, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """The live loop (assistant.live.run_command) holding the conversation."""
    from assistant.live import run_command as live_loop

    handle_turn = conversation_turns(settings, getattr(args, "config", None))
    return live_loop(args, settings, handle_turn, stdin=stdin, stdout=stdout)
