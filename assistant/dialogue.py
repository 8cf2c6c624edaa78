"""The conversation: a state machine on plain data.

`Dialogue.start()` gives the first state and the greeting; `Dialogue.step(state, text)` gives the
next state and what to say. Nothing here touches a device, a clock or a file, so the same machine
drives the typed chat, the live microphone loop and the tests (assistant.chat gives it those
side effects: the diary, the remembered voice, standard input and output).

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

from dataclasses import dataclass, field, replace
from typing import Any

from assistant.config import Settings, VoiceSettings
from assistant.errors import InputError
from assistant.knowledge import Knowledge, LanguagePack, load_knowledge
from assistant.matching import match_answer, match_command
from assistant.reply import (
    cause_sentences,
    danger_sentences,
    named_causes,
    open_sign_sentences,
    spoken_numbers,
    watch_for_sentences,
)
from assistant.triage import Triage, doubtful_screens, guarding_screens, next_screen, triage
from assistant.understanding import MAX_TEXT_CHARS, Findings, Utterance, detect_language, understand

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
    possible: frozenset[str] = frozenset()
    """Danger cues only possibly heard so far: each may open its screen, none raises a flag."""
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

    def step(self, state: State, text: str, *, unsure: bool = False,
             alternatives: tuple[str, ...] = ()) -> tuple[State, Turn]:
        """One user turn. `unsure`: the recogniser doubts its transcript; a description heard that
        way is asked for once more (what it gave is kept, the second telling adds to it), but a
        danger sign in it is acted on at once all the same, and a cue only possibly in it is
        looked for more widely. `alternatives`: the recogniser's other hypotheses of the same
        audio; a cue found only there is possibly said, so its screen is asked."""
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

        words = Utterance(text, unsure=unsure)
        command = self._command(words, state.language)
        if state.language == AUTO:
            language = self._language_of(words, command)
            if language is None:
                return self._emit(*self._unclear(state, "free_unclear"))
            state = replace(state, language=language)

        findings = understand(words, state.language, self.knowledge)
        answer = None if command else self._answer(words, state)
        state = self._with_findings(state, findings, answer)
        state = self._with_doubts(state, findings, alternatives)
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

    def _unasked_left_open(self, state: State) -> State:
        """When the conversation ends before its danger screens could be asked (answers never
        heard), each screen still due, or opened by a possibly heard cue, is named at the end like
        one the person was not sure about: an end for lack of hearing must not read as all clear."""
        rules = self.knowledge.rules
        asked = list(state.asked) + list(state.open_screens)
        left = []
        while (screen := next_screen(state.present, state.absent, rules, asked)) is not None:
            left.append(screen)
            asked.append(screen)
        left += doubtful_screens(state.present, state.absent, state.possible, rules, asked)
        if not left:
            return state
        return replace(state, open_screens=state.open_screens + tuple(dict.fromkeys(left)))

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
        """The next question and the reply key that introduces it (None when none is needed).

        Danger first: the screens due for certain, then those only a possibly heard cue opened
        (worst outcome first). Questions about causes come next, as long as room is left for the
        screens that guard the causes that would be named; those are asked last, so no cause is
        named before its own danger was asked about."""
        if len(state.asked) >= MAX_QUESTIONS:
            return None, None
        rules = self.knowledge.rules
        screens_asked = [q for q in state.asked if rules.screen(q)]
        intro = "screen_intro" if not screens_asked else None
        screen = next_screen(state.present, state.absent, rules, state.asked)
        if screen is not None:
            return screen, intro
        doubtful = doubtful_screens(state.present, state.absent, state.possible, rules, state.asked)
        if doubtful:
            return doubtful[0], intro
        guards = guarding_screens(named_causes(result), state.present, state.absent, rules, state.asked)
        cause_questions = len(state.asked) - len(screens_asked)
        room = MAX_QUESTIONS - len(state.asked) - len(guards)
        if (not self.settings.mid_walk and cause_questions < MAX_CAUSE_QUESTIONS and result.next_question is not None
                and room >= 1):
            return result.next_question, "ask_next_intro" if not cause_questions else None
        if guards:
            return guards[0], intro
        return None, None

    def _guarded(self, state: State, result: Triage) -> Triage:
        """The ranking with only the causes whose own danger was asked about: when the questions
        ran out first, a cause is left unnamed rather than named unguarded."""
        rules = self.knowledge.rules
        causes = tuple(
            (cause, score) for cause, score in result.causes
            if not guarding_screens([cause], state.present, state.absent, rules, state.asked)
        )
        return replace(result, causes=causes)

    def _explanation(self, state: State, result: Triage) -> list[str]:
        pack = self._pack(state)
        short = self.settings.mid_walk
        return (
            pack.reply_sentences("summary_intro")
            + cause_sentences(self._guarded(state, result), state.findings, pack, short=short)
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
            state = self._unasked_left_open(state)
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

    def _with_doubts(self, state: State, findings: Findings, alternatives: tuple[str, ...]) -> State:
        """Cues possibly heard: near matches in the words, and findings only the recogniser's
        other hypotheses hold. Anything since said or denied for certain is no longer in doubt."""
        possible = set(state.possible) | findings.possible
        if alternatives and state.language != AUTO:
            for alternative in alternatives:
                other = understand(Utterance(alternative), state.language, self.knowledge)
                possible |= other.present | other.possible
        known = state.present | state.absent
        return replace(state, possible=frozenset(possible - known))

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
