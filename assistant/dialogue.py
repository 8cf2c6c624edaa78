"""The conversation: a state machine on plain data, and the typed `calf-assistant chat`.

`Dialogue.start()` gives the first state and the greeting; `Dialogue.step(state, text)` gives the
next state and what to say. Nothing here touches a device, a clock or a file, so the same machine
drives the typed chat, the live microphone loop and the tests.

Order of work on every turn (safety first):
1. bad or empty input gets its own reply and changes nothing;
2. the words are understood; a danger sign in everything said so far (even in an answer to a
   yes/no question) ends the conversation with urgent or emergency advice and the numbers twice;
   an urgent sign first asks the screens that would make it an emergency, after the advice;
3. commands (repeat, slower, louder, start over, stop, help, emergency);
4. an answer to the pending yes/no question, or a free description;
5. the next question: the first step for a cramp happening now, then the danger screens that are
   due (intents/rules.yaml `screens:`), then questions that tell causes apart (chosen by triage);
   at most seven in all; or the explanation and the closing, which names any sign the person
   was not sure about.

Decisions worth knowing:
- "sometimes" counts as yes: a symptom that comes and goes is still a symptom the person has, and
  the cause model only knows present or absent. Missing a pattern costs more than over-counting it.
- "I don't know" moves on without recording anything; to a danger screen it leaves the sign open,
  and the closing says what to do if it appears. A screen answered with neither (a sentence about
  something else) stays open the same way.
- Mid-walk mode asks the screens and no questions about causes: short answers first.
- A sentence instead of yes/no is understood as findings; a clear yes/no word at its start also
  answers the question. When the sentence itself names the asked finding, the sentence wins.
- After the conversation ends, "repeat" still repeats the last reply; anything else starts a new
  conversation with those words (a person who comes back should not have to say "start over").
- While the language is "auto" and not yet known, replies are given in both languages.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from assistant import alerts
from assistant.config import Settings, VoiceSettings, load_settings, save_settings
from assistant.errors import AssistantError, InputError
from assistant.knowledge import Knowledge, LanguagePack, load_knowledge
from assistant.reply import (
    cause_sentences,
    danger_sentences,
    open_sign_sentences,
    spoken_numbers,
    watch_for_sentences,
)
from assistant.triage import Triage, next_screen, triage
from assistant.understanding import MAX_TEXT_CHARS, Findings, Utterance, detect_language, heard, understand

MAX_QUESTIONS = 7
"""Danger screens and cause questions together: older listeners tire of long interviews."""
MAX_CAUSE_QUESTIONS = 4
"""Four answers separate the causes well enough."""
MAX_UNCLEAR = 2
"""Re-prompts before a kind ending: a third failure means the channel is not working."""
RATE_STEP = 0.15
VOLUME_STEP = 0.15
MIN_RATE = 0.5
MAX_VOLUME = 1.0
COMMAND_SLACK = 2
"""Extra words allowed around a command phrase ("please repeat that"); longer talk is a sentence."""

ANSWERS = ("yes", "no", "unsure", "sometimes")
FREE, YES_NO = "free", "yes_no"
AUTO = "auto"


@dataclass(frozen=True)
class Turn:
    """What the assistant says after one user turn, and what it listens for next."""

    language: str
    reply: str
    expect: str = FREE
    done: bool = False
    level: str = "none"
    red_flags: tuple[str, ...] = ()
    causes: tuple[tuple[str, float], ...] = ()
    question: str | None = None
    """Id of the yes/no question asked in this reply, if any."""
    command: str | None = None
    """The command this turn obeyed, if any."""
    voice: VoiceSettings | None = None
    """New voice settings when the person asked for slower or louder; the caller remembers them."""

    def to_dict(self) -> dict[str, Any]:
        """The `chat --json` object: the fields of `ask`, plus expect and done."""
        return {
            "lang": self.language,
            "triage": self.level,
            "red_flags": list(self.red_flags),
            "causes": [{"id": cid, "score": score} for cid, score in self.causes],
            "reply": self.reply,
            "expect": self.expect,
            "done": self.done,
        }


@dataclass(frozen=True)
class State:
    language: str
    """en, id, or auto until the first meaningful words show which."""
    voice: VoiceSettings
    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    asked: tuple[str, ...] = ()
    pending: str | None = None
    """The question id waiting for a yes or no."""
    unclear: int = 0
    """Unclear turns in a row."""
    open_screens: tuple[str, ...] = ()
    """Danger screens the person was not sure about, or answered with something else."""
    danger_told: bool = False
    """Urgent advice was given and a screen that could make it an emergency is being asked."""
    cramp_step_given: bool = False
    told_again: bool = False
    """The person was asked once to say their description again because it was heard unsure."""
    done: bool = False
    meaningful: bool = False
    """Something other than a command was said, so the conversation is worth keeping in the diary."""
    heard: tuple[str, ...] = ()
    said: tuple[str, ...] = ()
    last: Turn | None = None

    @property
    def findings(self) -> Findings:
        return Findings(self.language, self.present, self.absent)


@dataclass(frozen=True)
class Dialogue:
    settings: Settings = field(default_factory=Settings)
    knowledge: Knowledge = field(default_factory=load_knowledge)

    # ---- entry points -------------------------------------------------------------------

    def start(self, language: str | None = None, voice: VoiceSettings | None = None) -> tuple[State, Turn]:
        language = language or self.settings.language
        state = State(language=language, voice=voice or self.settings.voice)
        return self._emit(state, self._turn(state, self._say(state, "greeting")))

    def step(self, state: State, text: str, *, unsure: bool = False) -> tuple[State, Turn]:
        """One user turn. `unsure`: the recogniser doubts its transcript; a description heard that
        way is asked for once more (what it gave is kept, the second telling adds to it), but a
        danger sign in it is acted on at once all the same."""
        if state.done:
            if state.last is not None and self._command(text, state.language) == "repeat":
                return self._emit_repeat(state)
            state = self._fresh(state)
        try:
            text = _checked(text)
        except InputError:
            key = "too_long" if len(text) > MAX_TEXT_CHARS else "unreadable_input"
            # A placeholder keeps the diary's turns paired; the raw bytes are not worth keeping.
            state = replace(state, heard=state.heard + (f"[{key}]",))
            return self._emit(state, self._again(state, key))
        state = replace(state, heard=state.heard + (text,))
        if not text:
            return self._emit(state, self._again(state, "empty_input"))

        words = Utterance(text)
        command = self._command(words, state.language)
        if state.language == AUTO:
            language = self._language_of(words, command)
            if language is None:
                return self._emit(*self._unclear(state, "free_unclear"))
            state = replace(state, language=language)

        findings = understand(words, state.language, self.knowledge)
        answer = None if command else self._answer(words, state)
        state = self._with_findings(state, findings, answer)
        result = self._triage(state)
        if result.is_danger:
            if command == "emergency":
                return self._emit(*self._emergency_command(state))
            if state.danger_told and command in ("repeat", "slower", "louder", "help"):
                return self._emit(*self._obey(state, command, result))
            return self._emit(*self._danger(state, result, answer))
        if command:
            return self._emit(*self._obey(state, command, result))
        state = replace(state, meaningful=True)
        if state.pending is not None:
            return self._emit(*self._after_answer(state, findings, answer, result))
        if unsure and not state.told_again and result.in_domain and "cramp_now" not in state.present:
            # Misheard words would steer the questions the wrong way; one more telling is cheap.
            # (A cramp happening now gets its first step at once instead.)
            state = replace(state, told_again=True)
            return self._emit(state, self._again(state, "heard_unsure"))
        return self._emit(*self._after_description(state, findings, result))

    def misheard(self, state: State) -> tuple[State, Turn]:
        """An answer the hearing could not tell apart (yes or no?): asked again, never guessed, and
        counted like any unclear answer, so it ends kindly (naming the open sign) rather than loop."""
        state = replace(state, heard=state.heard + ("[unclear answer]",))
        if state.pending is None:
            return self._emit(*self._unclear(state, "free_unclear"))
        return self._emit(*self._unclear(state, "answer_unclear", repeat_question=True))

    # ---- the phases -----------------------------------------------------------------------

    def _after_answer(self, state: State, findings: Findings, answer: str | None, result: Triage):
        asked_finding = self.knowledge.rules.asked_finding(state.pending)
        answered = answer is not None or asked_finding in findings.present | findings.absent
        if not answered and findings.is_empty():
            return self._unclear(state, "answer_unclear", repeat_question=True)
        # A sentence about something else still moves the interview on: the person has said what
        # they wanted to say, and asking the same thing again would feel like not listening.
        state = self._keep_open(state, answer)
        state = replace(state, pending=None, unclear=0)
        opening = self._say(state, "dont_know_ack") if answer == "unsure" else []
        return self._next(state, result, opening)

    def _keep_open(self, state: State, answer: str | None) -> State:
        """A danger screen neither confirmed nor denied stays open, to be named at the end."""
        screen = self.knowledge.rules.screen(state.pending) if state.pending else None
        if screen is None or screen.id in state.open_screens:
            return state
        if screen.finding in state.present | state.absent or screen.signs <= state.present | state.absent:
            return state
        if answer in ("yes", "no", "sometimes"):
            return state
        return replace(state, open_screens=state.open_screens + (screen.id,))

    def _after_description(self, state: State, findings: Findings, result: Triage):
        if not result.in_domain:
            key = "out_of_domain" if not findings.is_empty() else "free_unclear"
            return self._unclear(state, key)
        state = replace(state, unclear=0)
        opening: list[str] = []
        if "cramp_now" in state.present and not state.cramp_step_given:
            opening = self._say(state, "cramp_now_short" if self.settings.mid_walk else "cramp_now")
            state = replace(state, cramp_step_given=True)
        return self._next(state, result, opening)

    def _next(self, state: State, result: Triage, opening: list[str]):
        question, intro = self._next_question(state, result)
        if question is not None:
            sentences = opening + self._say(state, intro) if intro else list(opening)
            sentences.append(self._pack(state).question_text(question))
            state = replace(state, pending=question, asked=state.asked + (question,))
            return state, self._turn(state, sentences, result, expect=YES_NO, question=question)
        sentences = opening + self._explanation(state, result)
        state = replace(state, done=True, pending=None)
        return state, self._turn(state, sentences, result, done=True)

    def _next_question(self, state: State, result: Triage) -> tuple[str | None, str | None]:
        """The next question and the reply key that introduces it (None when none is needed)."""
        if len(state.asked) >= MAX_QUESTIONS:
            return None, None
        rules = self.knowledge.rules
        screens_asked = [q for q in state.asked if rules.screen(q)]
        screen = next_screen(state.present, state.absent, rules, state.asked)
        if screen is not None:
            return screen, "screen_intro" if not screens_asked else None
        cause_questions = len(state.asked) - len(screens_asked)
        if self.settings.mid_walk or cause_questions >= MAX_CAUSE_QUESTIONS or result.next_question is None:
            return None, None
        return result.next_question, "ask_next_intro" if not cause_questions else None

    def _explanation(self, state: State, result: Triage) -> list[str]:
        pack = self._pack(state)
        short = self.settings.mid_walk
        return (
            pack.reply_sentences("summary_intro")
            + cause_sentences(result, state.findings, pack, short=short)
            + open_sign_sentences(state.open_screens, pack, self.settings)
            + watch_for_sentences(pack, self.settings)
            + pack.reply_sentences("disclaimer")
            + pack.reply_sentences("closing")
        )

    def _danger(self, state: State, result: Triage, answer: str | None = None):
        pack = self._pack(state)
        if state.danger_told:
            # The answer to the follow-up screen: unclear counts as not sure, never as a no.
            state = self._keep_open(state, answer)
        follow_up = None
        if result.level == "urgent" and len(state.asked) < MAX_QUESTIONS:
            # A yes here would make it an emergency: worth one more question after the advice.
            follow_up = next_screen(state.present, state.absent, self.knowledge.rules, state.asked, emergency_only=True)
        short = self.settings.mid_walk or state.danger_told
        sentences = danger_sentences(result, pack, self.settings, short=short)
        if follow_up is not None:
            sentences += pack.reply_sentences("danger_more_intro") + [pack.question_text(follow_up)]
            state = replace(state, pending=follow_up, asked=state.asked + (follow_up,), danger_told=True,
                            meaningful=True, unclear=0)
            return state, self._turn(state, sentences, result, expect=YES_NO, question=follow_up)
        if result.level == "urgent":
            # The urgent advice names the numbers once; a frightened listener needs them twice.
            sentences += pack.reply_sentences("urgent_repeat", numbers=spoken_numbers(pack, self.settings))
        sentences += open_sign_sentences(state.open_screens, pack, self.settings)
        sentences += pack.reply_sentences("disclaimer")
        state = replace(state, done=True, pending=None, meaningful=True)
        return state, self._turn(state, sentences, result, done=True)

    def _unclear(self, state: State, key: str, *, repeat_question: bool = False):
        if state.unclear >= MAX_UNCLEAR:
            state = self._keep_open(state, None)
            sentences = self._say(state, "unclear_end")
            if state.language != AUTO:
                sentences += open_sign_sentences(state.open_screens, self._pack(state), self.settings)
                sentences += watch_for_sentences(self._pack(state), self.settings)
            state = replace(state, done=True, pending=None)
            return state, self._turn(state, sentences, self._triage(state), done=True)
        state = replace(state, unclear=state.unclear + 1)
        sentences = self._say(state, key)
        if repeat_question and state.pending:
            sentences.append(self._pack(state).question_text(state.pending))
        return state, self._turn(state, sentences, self._triage(state), expect=self._expect(state),
                                 question=state.pending)

    def _again(self, state: State, key: str) -> Turn:
        """A reply about the input itself; the conversation stays where it was."""
        sentences = self._say(state, key) + self._pending_question(state)
        return self._turn(state, sentences, self._triage(state), expect=self._expect(state), question=state.pending)

    # ---- commands -------------------------------------------------------------------------

    def _obey(self, state: State, command: str, result: Triage):
        if command == "repeat":
            if state.last is None:
                return state, self._turn(state, self._say(state, "repeat_nothing"), result)
            return state, replace(state.last, command="repeat", voice=None)
        if command == "stop":
            state = replace(state, done=True, pending=None)
            return state, self._turn(state, self._say(state, "stop_ack"), result, done=True, command=command)
        if command == "start_over":
            # The findings go, the transcript stays: the diary shows the whole session.
            state = replace(self._fresh(state), heard=state.heard, said=state.said, meaningful=state.meaningful)
            return state, self._turn(state, self._say(state, "start_over_ack"), command=command)
        if command == "emergency":
            return self._emergency_command(state)
        if command == "help":
            sentences = self._say(state, "help") + self._pending_question(state)
            return state, self._turn(state, sentences, result, expect=self._expect(state),
                                     question=state.pending, command=command)
        return self._change_voice(state, command, result)

    def _change_voice(self, state: State, command: str, result: Triage):
        voice = state.voice
        if command == "slower":
            changed = replace(voice, rate=round(max(MIN_RATE, voice.rate - RATE_STEP), 2))
            key = "slower_ack" if changed.rate < voice.rate else "slowest"
        else:
            changed = replace(voice, volume=round(min(MAX_VOLUME, voice.volume + VOLUME_STEP), 2))
            key = "louder_ack" if changed.volume > voice.volume else "loudest"
        state = replace(state, voice=changed)
        # Saying the pending question again lets the person hear it at the new speed or volume.
        sentences = self._say(state, key) + self._pending_question(state)
        return state, self._turn(state, sentences, result, expect=self._expect(state), question=state.pending,
                                 command=command, voice=changed if changed != voice else None)

    def _emergency_command(self, state: State):
        pack = self._pack(state)
        numbers = spoken_numbers(pack, self.settings)
        sentences = (
            pack.reply_sentences("emergency_first")
            + pack.reply_sentences("emergency_call", numbers=numbers)
            + pack.reply_sentences("emergency_repeat", numbers=numbers)
        )
        state = replace(state, done=True, pending=None, meaningful=True)
        result = self._triage(state)
        emergency = replace(result, level="emergency", red_flags=())
        return state, self._turn(state, sentences, emergency, done=True, command="emergency")

    def _command(self, text: str | Utterance, language: str) -> str | None:
        # The conversation's own language first; the other still works, because families mix
        # languages and "tolong" or "stop" must never be missed.
        languages = sorted(self.knowledge.packs, key=lambda code: code != language)
        for code in languages:
            command = match_command(text, self.knowledge.pack(code))
            if command:
                return command
        return None

    # ---- understanding answers ---------------------------------------------------------------

    def _answer(self, text: Utterance, state: State) -> str | None:
        if state.pending is None:
            return None
        return match_answer(text, self._pack(state))

    def _with_findings(self, state: State, findings: Findings, answer: str | None) -> State:
        present = state.present | findings.present
        absent = (state.absent | findings.absent) - present
        if state.pending is not None and answer in ("yes", "no", "sometimes"):
            rules = self.knowledge.rules
            finding = rules.asked_finding(state.pending)
            screen = rules.screen(state.pending)
            said_outright = finding in findings.present | findings.absent
            if not said_outright:
                if answer == "no":
                    # "No" to a screen denies each sign it named, except one the same words said.
                    denied = {finding} | (screen.signs if screen else set())
                    absent = absent | (denied - present)
                else:
                    present, absent = present | {finding}, absent - {finding}
        return replace(state, present=frozenset(present), absent=frozenset(absent))

    def _language_of(self, text: Utterance, command: str | None) -> str | None:
        """The language of the first meaningful words, or None while nothing tells."""
        if command:
            for code, pack in self.knowledge.packs.items():
                if match_command(text, pack):
                    return code
        fallback = "en"
        code = detect_language(text, default=fallback, knowledge=self.knowledge)
        if not understand(text, code, self.knowledge).is_empty():
            return code
        for other in self.knowledge.packs:
            if not understand(text, other, self.knowledge).is_empty():
                return other
        return None

    # ---- helpers ------------------------------------------------------------------------------

    def _triage(self, state: State) -> Triage:
        return triage(state.findings, self.knowledge, asked=frozenset(state.asked))

    def _fresh(self, state: State) -> State:
        return State(language=state.language, voice=state.voice)

    def _pack(self, state: State) -> LanguagePack:
        return self.knowledge.pack("en" if state.language == AUTO else state.language)

    def _say(self, state: State, key: str, **values: Any) -> list[str]:
        """One reply key; before the language is known, in every language."""
        codes = tuple(self.knowledge.packs) if state.language == AUTO else (state.language,)
        sentences: list[str] = []
        for code in codes:
            sentences += self.knowledge.pack(code).reply_sentences(key, **values)
        return sentences

    def _pending_question(self, state: State) -> list[str]:
        return [self._pack(state).question_text(state.pending)] if state.pending else []

    def _expect(self, state: State) -> str:
        return YES_NO if state.pending else FREE

    def _turn(self, state: State, sentences: list[str], result: Triage | None = None, **fields: Any) -> Turn:
        language = "en" if state.language == AUTO else state.language
        if result is None:
            return Turn(language, " ".join(sentences), **fields)
        return Turn(
            language,
            " ".join(sentences),
            level=result.level,
            red_flags=result.red_flags,
            causes=result.causes,
            **fields,
        )

    def _emit(self, state: State, turn: Turn) -> tuple[State, Turn]:
        """Remember what was said, so repeat gives exactly the same words."""
        if turn.command != "repeat":
            state = replace(state, last=turn)
        return replace(state, said=state.said + (turn.reply,)), turn

    def _emit_repeat(self, state: State) -> tuple[State, Turn]:
        turn = replace(state.last, command="repeat", voice=None)
        return replace(state, said=state.said + (turn.reply,)), turn


def _checked(text: str) -> str:
    from assistant.answer import check_text

    return check_text(text)


def _words(text: str | Utterance, pack: LanguagePack) -> list[list[str]]:
    """The plain canonical words, and the same after the language's spelling table."""
    utterance = heard(text)
    plain, spelled = utterance.plain, utterance.spelled(pack)
    return [plain] if plain == spelled else [plain, spelled]


def _find(words: list[str], phrase: list[str]) -> int:
    """Where the phrase starts in words, or -1."""
    size = len(phrase)
    for start in range(len(words) - size + 1):
        if words[start : start + size] == phrase:
            return start
    return -1


def _cover(words: list[str], phrases: list[tuple[list[str], str]]) -> str | None:
    """The last command when the words are nothing but command phrases ("tolong ulangi"), else None."""
    position, last = 0, None
    while position < len(words):
        for parts, command in phrases:
            if words[position : position + len(parts)] == parts:
                position, last = position + len(parts), command
                break
        else:
            return None
    return last


def match_command(text: str | Utterance, pack: LanguagePack) -> str | None:
    """The command said, if the utterance is a command and not a sentence that contains its word.

    An utterance made only of command phrases is a command; when there are two ("tolong ulangi":
    please repeat), the later one is the verb and the earlier is politeness. A phrase of two or
    more words ("start over", "mulai lagi") is specific enough to count with a few words around
    it. A single command word inside other words is not a command: "when I stop" answers a
    question, "I stopped walking" and "it helps when I sit" describe.
    """
    phrases = sorted(
        ((phrase.split(), command) for command, items in pack.language.commands.items() for phrase in items),
        key=lambda item: -len(item[0]),
    )
    for words in _words(text, pack):
        command = _cover(words, phrases)
        if command:
            return command
    for words in _words(text, pack):
        for parts, command in phrases:
            if len(parts) >= 2 and len(words) <= len(parts) + COMMAND_SLACK and _find(words, parts) >= 0:
                return command
    return None


def match_answer(text: str | Utterance, pack: LanguagePack) -> str | None:
    """yes, no, unsure or sometimes when the utterance is, or starts with, such an answer.

    The longest phrase wins, so "not really" is a no and "I don't know" is not read as "no".
    """
    profile = pack.language
    lists = {"yes": profile.yes, "no": profile.no, "unsure": profile.unsure, "sometimes": profile.sometimes}
    best: tuple[int, str] | None = None
    for words in _words(text, pack):
        for answer, phrases in lists.items():
            for phrase in phrases:
                parts = phrase.split()
                if parts and words[: len(parts)] == parts and (best is None or len(parts) > best[0]):
                    best = (len(parts), answer)
        # A short hedge anywhere ("well, sometimes") still answers; a long story needs its start.
        if best is None and len(words) <= 3:
            for answer, phrases in lists.items():
                for phrase in phrases:
                    if _find(words, phrase.split()) >= 0:
                        best = (len(phrase.split()), answer)
    return best[1] if best else None


def listening_phrases(pack: LanguagePack) -> list[str]:
    """What a yes/no grammar must accept: answers, hedges and every command."""
    profile = pack.language
    phrases = [*profile.yes, *profile.no, *profile.unsure, *profile.sometimes]
    for command_phrases in profile.commands.values():
        phrases += command_phrases
    return sorted(set(phrases))


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

    def __call__(self, text: str, *, unsure: bool = False) -> str:
        if self.state.done:
            self.started = _now()
        was_done = self.state.done
        self.state, self.turn = self.dialogue.step(self.state, text, unsure=unsure)
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
        return _audio_chat(conversation, stream)
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


def _audio_chat(conversation: Conversation, stream) -> int:
    """`chat --audio`: the same conversation heard from WAV files, by the live loop's own turn."""
    from assistant.live import Ears, audio_chat

    try:
        return audio_chat(conversation, Ears(conversation.settings), stream, sys.stdout)
    finally:
        conversation.close()
