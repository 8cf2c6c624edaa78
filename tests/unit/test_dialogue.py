"""The conversation state machine on plain data: no process, no device, real knowledge files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.config import Settings, VoiceSettings, load_settings, with_emergency
from assistant.chat import remember_voice
from assistant.dialogue import MAX_QUESTIONS, MAX_UNCLEAR, Dialogue
from assistant.knowledge import load_knowledge
from assistant.matching import listening_phrases, match_answer, match_command

KNOWLEDGE = load_knowledge()
EN = KNOWLEDGE.pack("en")
ID = KNOWLEDGE.pack("id")
OPENING = {"en": "my calf cramps when I walk", "id": "betis saya kram kalau jalan"}


@pytest.fixture
def dialogue() -> Dialogue:
    return Dialogue(with_emergency(Settings(), "112,119"))


def talk(dialogue: Dialogue, lines: list[str], language: str = "en"):
    state, turn = dialogue.start(language)
    turns = [turn]
    for line in lines:
        state, turn = dialogue.step(state, line)
        turns.append(turn)
    return state, turns


SCREENS_DENIED = {"en": ["no", "no"], "id": ["nggak", "tidak"]}
"""The two screens every conversation gets, answered no, so the next question is about causes."""


def past_screens(language: str = "en") -> list[str]:
    return [OPENING[language], *SCREENS_DENIED[language]]


def finding_of(question: str) -> str:
    return KNOWLEDGE.rules.asked_finding(question)


def test_greets_and_listens_freely(dialogue):
    state, turn = dialogue.start("en")
    assert turn.reply == EN.reply("greeting")
    assert (turn.expect, turn.done, turn.level) == ("free", False, "none")
    assert state.last == turn


@pytest.mark.parametrize("language", ["en", "id"])
def test_description_leads_first_to_the_danger_screens_then_causes(dialogue, language):
    state, (_, turn) = talk(dialogue, [OPENING[language]], language)
    pack = KNOWLEDGE.pack(language)
    assert turn.expect == "yes_no" and not turn.done
    assert turn.question == "clot_signs"
    assert turn.reply == pack.reply("screen_intro") + " " + pack.question_text("clot_signs")
    assert "cramp" in state.present and turn.causes
    state, turn = dialogue.step(state, SCREENS_DENIED[language][0])
    assert turn.question == "breath_chest_faint" and turn.reply == pack.question_text("breath_chest_faint")
    state, turn = dialogue.step(state, SCREENS_DENIED[language][1])
    assert turn.question in KNOWLEDGE.rules.questions
    assert turn.reply == pack.reply("ask_next_intro") + " " + pack.questions[turn.question]
    # a no to a screen denies every sign it named
    assert {"swelling", "redness", "warmth", "breathless", "chest_pain", "fainting"} <= state.absent


@pytest.mark.parametrize(
    ("language", "answer", "side"),
    [
        ("en", "yes", "present"),
        ("en", "yeah", "present"),
        ("en", "no", "absent"),
        ("en", "nope", "absent"),
        ("en", "not really", "absent"),
        ("en", "sometimes", "present"),
        ("id", "iya", "present"),
        ("id", "betul", "present"),
        ("id", "nggak", "absent"),
        ("id", "tidak", "absent"),
        ("id", "kadang-kadang", "present"),
    ],
)
def test_yes_and_no_answers_record_the_asked_finding(dialogue, language, answer, side):
    state, turns = talk(dialogue, past_screens(language), language)
    asked = finding_of(turns[-1].question)
    state, _ = dialogue.step(state, answer)
    assert asked in getattr(state, side)


@pytest.mark.parametrize(("language", "text"), [("en", "I don't know"), ("id", "tidak tahu")])
def test_dont_know_moves_on_without_recording(dialogue, language, text):
    state, turns = talk(dialogue, past_screens(language), language)
    first = turns[-1].question
    state, turn = dialogue.step(state, text)
    assert finding_of(first) not in state.present | state.absent
    assert turn.reply.startswith(KNOWLEDGE.pack(language).reply("dont_know_ack"))
    assert turn.question != first


def test_full_sentence_with_leading_yes_counts_both(dialogue):
    state, turns = talk(dialogue, past_screens())
    asked = finding_of(turns[-1].question)
    state, _ = dialogue.step(state, "yes, and I have diabetes")
    assert asked in state.present
    assert "diabetes" in state.present


def test_full_sentence_without_yes_or_no_is_understood(dialogue):
    state, _ = talk(dialogue, [OPENING["en"]])
    state, turn = dialogue.step(state, "I have diabetes and I smoke")
    assert {"diabetes", "smoker"} <= state.present
    assert turn.question not in ("diabetes", "smoker")


def test_already_answered_questions_are_skipped(dialogue):
    patient = ["my calf cramps when I walk on a hot day, I have had little to drink"]
    state, turns = talk(dialogue, patient)
    assert {"hot_weather", "little_fluid"} <= state.present
    for _ in range(MAX_QUESTIONS):
        if turns[-1].done:
            break
        assert turns[-1].question not in ("hot_weather", "little_fluid")
        state, turn = dialogue.step(state, "no")
        turns.append(turn)


def test_at_most_seven_questions_then_an_explanation(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    while not turns[-1].done:
        state, turn = dialogue.step(state, "I don't know")
        turns.append(turn)
    questions = [t.question for t in turns if t.expect == "yes_no"]
    assert 1 <= len(questions) <= MAX_QUESTIONS
    assert len(set(questions)) == len(questions)
    assert questions[:2] == ["clot_signs", "breath_chest_faint"]
    last = turns[-1]
    assert last.reply.startswith(EN.reply("dont_know_ack") + " " + EN.reply("summary_intro"))
    # "I don't know" to both screens leaves both signs open, and the closing names them
    for screen in ("clot_signs", "breath_chest_faint"):
        assert EN.screens[screen].if_unsure.text.format(numbers="112 or 119") in last.reply
    assert EN.reply("disclaimer") in last.reply and last.reply.endswith(EN.reply("closing"))
    assert last.causes and last.level in ("self_care", "routine")


def test_clear_ranking_stops_asking(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    while not turns[-1].done:
        # Agreeing with everything about exertion makes one cause clear quickly.
        answer = "yes" if turns[-1].question in ("hard_exercise",) else "no"
        state, turn = dialogue.step(state, answer)
        turns.append(turn)
    assert turns[-1].causes[0][1] >= 0.5 or len(state.asked) == MAX_QUESTIONS


@pytest.mark.parametrize(
    ("language", "answer", "flag", "level"),
    [
        ("en", "yes, and now I have chest pain", "pulmonary_embolism", "emergency"),
        ("id", "iya, sekarang dada saya sakit", "pulmonary_embolism", "emergency"),
    ],
)
def test_danger_sign_in_an_answer_stops_everything(dialogue, language, answer, flag, level):
    state, _ = talk(dialogue, [OPENING[language]], language)
    state, turn = dialogue.step(state, answer)
    assert turn.done and turn.level == level and flag in turn.red_flags
    # Both emergency numbers, each said twice.
    assert turn.reply.count("112") == 2 and turn.reply.count("119") == 2
    assert state.pending is None


def test_urgent_red_flag_still_says_the_numbers_twice(dialogue):
    state, turns = talk(dialogue, ["my calf hurts and it is swollen and red and warm"])
    turn = turns[-1]
    # the urgent advice at once, then the screen that would make it an emergency
    assert turn.level == "urgent" and "dvt" in turn.red_flags and not turn.done
    assert turn.reply.count("112") == 1 and turn.question == "breath_chest_faint"
    state, turn = dialogue.step(state, "no")
    assert turn.level == "urgent" and "dvt" in turn.red_flags and turn.done
    assert turn.reply.count("112") == 2


def test_danger_from_accumulated_findings(dialogue):
    # Breathlessness alone is not a leg danger; with the calf pain said before, it is.
    state, _ = talk(dialogue, ["my calf hurts when I walk"])
    state, turn = dialogue.step(state, "I am short of breath")
    assert "pulmonary_embolism" in turn.red_flags and turn.level == "emergency"


@pytest.mark.parametrize("language", ["en", "id"])
def test_a_description_heard_unsure_is_asked_for_once_more_and_kept(dialogue, language):
    pack = KNOWLEDGE.pack(language)
    state, _ = dialogue.start(language)
    first = {"en": "my calf hurts", "id": "betis saya sakit"}[language]
    second = {"en": "it cramps when I walk", "id": "kram kalau jalan"}[language]
    state, turn = dialogue.step(state, first, unsure=True)
    assert turn.reply == pack.reply("heard_unsure") and turn.expect == "free" and not turn.done
    assert "calf_pain" in state.present, "what was heard is kept"
    # The second telling is taken even if it is unsure too: never a loop of asking again.
    state, turn = dialogue.step(state, second, unsure=True)
    assert turn.expect == "yes_no" and turn.question
    assert {"calf_pain", "cramp", "walking_trigger"} <= state.present


@pytest.mark.parametrize(
    ("language", "text", "flag"),
    [
        ("en", "my calf is swollen and I have chest pain", "pulmonary_embolism"),
        ("id", "tiba-tiba kaki saya dingin dan pucat", "acute_limb_ischemia"),
    ],
)
def test_a_danger_sign_heard_unsure_is_acted_on_at_once(dialogue, language, text, flag):
    state, _ = dialogue.start(language)
    state, turn = dialogue.step(state, text, unsure=True)
    assert flag in turn.red_flags and turn.level == "emergency" and turn.done
    assert turn.reply.count("112") == 2


def test_unsure_hearing_does_not_hold_back_a_cramp_happening_now(dialogue):
    state, _ = dialogue.start("en")
    state, turn = dialogue.step(state, "my calf is cramping right now", unsure=True)
    assert turn.reply.startswith(EN.reply("cramp_now"))


def test_an_answer_heard_unsure_is_taken_as_an_answer(dialogue):
    state, _ = talk(dialogue, past_screens())
    asked = KNOWLEDGE.rules.questions[state.pending]
    state, turn = dialogue.step(state, "yes", unsure=True)
    assert asked in state.present and turn.reply != EN.reply("heard_unsure")


def test_unclear_input_reprompts_twice_then_ends_kindly(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    question = turns[-1].question
    for _ in range(MAX_UNCLEAR):
        state, turn = dialogue.step(state, "banana")
        assert turn.reply == EN.reply("answer_unclear") + " " + EN.question_text(question)
        assert turn.expect == "yes_no" and not turn.done
    state, turn = dialogue.step(state, "banana")
    # the screen never answered stays open: the ending says what to do if its sign appears
    assert turn.reply.startswith(EN.reply("unclear_end")) and turn.done
    assert EN.screens[question].if_unsure.text in turn.reply
    assert turn.reply.endswith(EN.reply("watch_for", numbers="112 or 119"))


def test_unclear_description_reprompts(dialogue):
    state, turns = talk(dialogue, ["what is the weather today"])
    assert turns[-1].reply == EN.reply("free_unclear")
    assert turns[-1].expect == "free"


def test_a_clear_answer_resets_the_unclear_count(dialogue):
    state, _ = talk(dialogue, [OPENING["en"], "banana", "banana", "no"])
    assert state.unclear == 0


def test_repeat_gives_the_same_words(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    state, again = dialogue.step(state, "repeat")
    assert again.reply == turns[-1].reply
    assert again.expect == "yes_no" and again.question == turns[-1].question
    # Repeating twice repeats the question, not "repeat"'s own reply.
    state, twice = dialogue.step(state, "ulangi")
    assert twice.reply == turns[-1].reply


def test_repeat_before_anything_repeats_the_greeting(dialogue):
    _, turns = talk(dialogue, ["please repeat"])
    assert turns[-1].reply == turns[0].reply


def test_repeat_with_nothing_said(dialogue):
    state, _ = dialogue.start("en")
    state, turn = dialogue.step(replace(state, last=None), "repeat")
    assert turn.reply == EN.reply("repeat_nothing")


def test_repeat_after_the_end_repeats_the_advice(dialogue):
    state, turns = talk(dialogue, ["my calf hurts and it is swollen and red and warm", "no"])
    state, turn = dialogue.step(state, "repeat")
    assert turn.reply == turns[-1].reply and turn.done


def test_new_words_after_the_end_start_a_new_conversation(dialogue):
    state, _ = talk(dialogue, ["stop"])
    assert state.done
    state, turn = dialogue.step(state, OPENING["en"])
    assert not turn.done and turn.expect == "yes_no"
    assert state.heard == (OPENING["en"],)


def test_slower_lowers_the_rate_until_the_slowest(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    question = EN.question_text(turns[-1].question)
    state, turn = dialogue.step(state, "slower")
    assert turn.voice is not None and turn.voice.rate < 1.0
    assert turn.reply == EN.reply("slower_ack") + " " + question
    assert turn.expect == "yes_no"
    for _ in range(10):
        state, turn = dialogue.step(state, "slower")
    assert state.voice.rate == 0.5 and turn.voice is None
    assert turn.reply.startswith(EN.reply("slowest"))


def test_louder_at_full_volume_says_so(dialogue):
    state, turns = talk(dialogue, ["louder"])
    assert turns[-1].reply == EN.reply("loudest") and turns[-1].voice is None


def test_louder_raises_the_volume():
    dialogue = Dialogue(replace(Settings(), voice=VoiceSettings(volume=0.5)))
    state, turns = talk(dialogue, ["lebih keras"], "id")
    assert turns[-1].reply == ID.reply("louder_ack")
    assert turns[-1].voice.volume > 0.5 and state.voice == turns[-1].voice


def test_start_over_forgets_the_findings(dialogue):
    state, _ = talk(dialogue, [OPENING["en"]])
    assert state.present and state.pending
    state, turn = dialogue.step(state, "start over")
    assert turn.reply == EN.reply("start_over_ack") and turn.level == "none"
    assert not state.present and not state.asked and state.pending is None and not state.done
    assert OPENING["en"] in state.heard


def test_stop_ends(dialogue):
    state, turns = talk(dialogue, [OPENING["id"], "berhenti"], "id")
    assert turns[-1].reply == ID.reply("stop_ack") and turns[-1].done


def test_help_keeps_the_question_open(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    question = turns[-1].question
    state, turn = dialogue.step(state, "what can I say")
    assert turn.reply.startswith(EN.reply("help")) and turn.reply.endswith(EN.question_text(question))
    assert state.pending == question and turn.expect == "yes_no"


@pytest.mark.parametrize(("language", "text"), [("en", "emergency"), ("id", "tolong"), ("id", "darurat")])
def test_emergency_command(dialogue, language, text):
    _, turns = talk(dialogue, [OPENING[language], text], language)
    turn = turns[-1]
    assert turn.level == "emergency" and turn.red_flags == () and turn.done
    assert turn.reply.count("112") == 2


@pytest.mark.parametrize(
    ("pack", "text", "command"),
    [
        (EN, "stop", "stop"),
        (EN, "Stop!", "stop"),
        (EN, "I stopped walking", None),
        (EN, "it helps when I sit", None),
        (EN, "start over please", "start_over"),
        (EN, "when I stop walking it goes away", None),
        (ID, "tolong ulangi", "repeat"),
        (ID, "tolong", "emergency"),
        (ID, "mulai lagi", "start_over"),
        (ID, "lebih pelan", "slower"),
        (ID, "kalau berhenti jalan hilang", None),
    ],
)
def test_commands_are_whole_utterances(pack, text, command):
    assert match_command(text, pack) == command


@pytest.mark.parametrize(
    ("pack", "text", "answer"),
    [
        (EN, "yes", "yes"),
        (EN, "Yep.", "yes"),
        (EN, "I think so", "yes"),
        (EN, "nope", "no"),
        (EN, "not really", "no"),
        (EN, "I don't know", "unsure"),
        (EN, "sometimes", "sometimes"),
        (EN, "my calf hurts", None),
        (ID, "iya", "yes"),
        (ID, "he'eh", "yes"),
        (ID, "bener", "yes"),
        (ID, "enggak", "no"),
        (ID, "ndak", "no"),
        (ID, "nggak tahu", "unsure"),
        (ID, "kadang-kadang", "sometimes"),
    ],
)
def test_answers_in_both_languages(pack, text, answer):
    assert match_answer(text, pack) == answer


def test_auto_language_is_detected_once_and_kept():
    dialogue = Dialogue(Settings(language="auto"))
    state, greeting = dialogue.start()
    # Before anyone speaks, the greeting is in every language.
    assert EN.reply("greeting") in greeting.reply and ID.reply("greeting") in greeting.reply
    state, turn = dialogue.step(state, "betis saya kram kalau jalan")
    assert state.language == "id" and turn.language == "id"
    state, turn = dialogue.step(state, "no")
    assert state.language == "id"


def test_auto_language_waits_for_meaningful_words():
    dialogue = Dialogue(Settings(language="auto"))
    state, _ = dialogue.start()
    state, turn = dialogue.step(state, "hmm")
    assert state.language == "auto"
    assert EN.reply("free_unclear") in turn.reply and ID.reply("free_unclear") in turn.reply


def test_bad_input_changes_nothing(dialogue):
    state, turns = talk(dialogue, [OPENING["en"]])
    before = (state.present, state.absent, state.pending, state.unclear)
    state, turn = dialogue.step(state, "x" * 5000)
    assert turn.reply.startswith(EN.reply("too_long"))
    state, turn = dialogue.step(state, "\x00\x01\x02 bytes")
    assert turn.reply.startswith(EN.reply("unreadable_input")) and turn.expect == "yes_no"
    assert (state.present, state.absent, state.pending, state.unclear) == before


def test_cramp_now_gives_the_first_step_first(dialogue):
    _, turns = talk(dialogue, ["my calf is cramping right now"])
    assert turns[-1].reply.startswith(EN.reply("cramp_now"))


def test_mid_walk_gives_the_short_first_step():
    dialogue = Dialogue(replace(Settings(), mid_walk=True))
    _, turns = talk(dialogue, ["my calf is cramping right now"])
    first_sentence = turns[-1].reply.split(". ")[0]
    assert turns[-1].reply.startswith(EN.reply("cramp_now_short"))
    assert len(first_sentence.split()) < 12


def test_turn_json_has_the_contract_fields(dialogue):
    _, turns = talk(dialogue, [OPENING["en"]])
    data = turns[-1].to_dict()
    assert set(data) == {"lang", "triage", "red_flags", "causes", "reply", "expect", "done"}
    assert all(set(cause) == {"id", "score"} for cause in data["causes"])


def test_grammar_phrases_cover_answers_and_commands():
    phrases = listening_phrases(ID)
    assert {"iya", "ulangi", "tolong"} <= set(phrases)


def test_remember_voice_keeps_the_file_free_of_overrides(monkeypatch, tmp_path):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CALF_ASSISTANT_EMERGENCY", "911")
    remember_voice(VoiceSettings(rate=0.7, volume=0.9), path)
    stored = load_settings(path, use_environment=False)
    assert stored.voice == VoiceSettings(rate=0.7, volume=0.9)
    assert stored.emergency.en == Settings().emergency.en


# ---- the safety net: danger screens ------------------------------------------------------------


def test_a_screen_is_skipped_when_its_signs_were_already_said_or_denied(dialogue):
    opening = ("my calf cramps when I walk, no swelling, no redness, not warm to the touch, I am not short of breath, "
               "no chest pain and I did not faint")
    _, turns = talk(dialogue, [opening])
    assert turns[-1].question in KNOWLEDGE.rules.questions, turns[-1]


def test_a_partly_denied_screen_is_still_asked(dialogue):
    _, turns = talk(dialogue, ["my calf cramps when I walk, no swelling"])
    assert turns[-1].question == "clot_signs"


@pytest.mark.parametrize("answer", ["sometimes", "yes a little"])
def test_a_hedged_yes_to_a_screen_escalates(dialogue, answer):
    _, turns = talk(dialogue, [OPENING["en"], "no", answer])
    assert turns[-1].level == "emergency" and "heart_warning" in turns[-1].red_flags and turns[-1].done


def test_a_yes_to_a_screen_takes_the_same_path_as_a_volunteered_sign(dialogue):
    screened = talk(dialogue, ["my calf cramps after the hill", "yes", "no"])[1][-1]
    volunteered = talk(dialogue, ["my calf cramps after the hill, one calf is swollen and red", "no"])[1][-1]
    assert screened.red_flags == volunteered.red_flags == ("dvt",)
    assert screened.level == volunteered.level == "urgent"


def test_contextual_screens_follow_the_findings(dialogue):
    """Heat brings the heat stroke screen, even when the heat comes up in an answer."""
    state, turns = talk(dialogue, [OPENING["en"], "no", "no"])
    while not turns[-1].done and turns[-1].question != "hot_weather":
        state, turn = dialogue.step(state, "no")
        turns.append(turn)
    if turns[-1].question == "hot_weather":
        state, turn = dialogue.step(state, "yes")
        assert turn.question == "heat_stroke_signs"
    _, turns = talk(dialogue, ["my calf cramped on my walk in the heat", "no", "no"])
    assert turns[-1].question == "heat_stroke_signs"


def test_mid_walk_asks_only_screens_then_the_short_answer():
    dialogue = Dialogue(replace(Settings(), mid_walk=True))
    _, turns = talk(dialogue, [OPENING["en"], "no", "no", "no"])
    # The third guards the cause the short answer names (a hard walk and dark urine).
    assert [t.question for t in turns[1:4]] == ["clot_signs", "breath_chest_faint", "dark_urine"]
    assert turns[-1].done and not turns[-1].red_flags
    assert EN.reply("watch_for", numbers="112") in turns[-1].reply


def test_mid_walk_still_asks_a_screen_the_findings_call_for():
    dialogue = Dialogue(replace(Settings(), mid_walk=True))
    _, turns = talk(dialogue, ["my calf cramped on my walk in the heat", "no", "no"])
    assert turns[-1].question == "heat_stroke_signs"


def test_a_cramp_happening_now_gets_its_first_step_before_the_screens(dialogue):
    _, turns = talk(dialogue, ["my calf is cramping right now"])
    assert turns[-1].reply.startswith(EN.reply("cramp_now")) and turns[-1].question == "clot_signs"


def test_the_urgent_follow_up_obeys_repeat_and_the_emergency_command(dialogue):
    state, turns = talk(dialogue, ["my calf is swollen and red"])
    assert turns[-1].question == "breath_chest_faint" and not turns[-1].done
    state, again = dialogue.step(state, "repeat")
    assert again.reply == turns[-1].reply and not again.done
    state, turn = dialogue.step(state, "emergency")
    assert turn.level == "emergency" and turn.done and turn.reply.count("112") == 2


def test_an_unclear_answer_to_the_follow_up_keeps_the_sign_open(dialogue):
    _, turns = talk(dialogue, ["my calf is swollen and red", "banana"])
    last = turns[-1]
    assert last.done and last.level == "urgent" and last.reply.count("112") >= 2
    assert EN.screens["breath_chest_faint"].if_unsure.text.format(numbers="112 or 119") in last.reply
