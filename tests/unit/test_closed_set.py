"""The decision rules of closed-set hearing, on made-up scores (the scoring itself runs on real
speech and the real model in tests/audio/test_answers.py)."""

from __future__ import annotations

import math

from assistant.closed_set import ANSWER, FREE, UNCLEAR, Rules, classes_of, decide, spellings, spoken_forms
from assistant.knowledge import load_knowledge
from assistant.matching import listening_phrases

RULES = Rules(share=0.8, floor=-4.0, extra_words=2)


def ln(p: float) -> float:
    return math.log(p)


def test_a_class_wins_on_the_sum_of_its_spellings_not_its_single_best():
    scores = {"yes": [("yes", ln(0.3), 2), ("yes", ln(0.3), 3), ("yeah", ln(0.3), 2)],
              "no": [("no", ln(0.05), 2)]}
    choice = decide(scores, "yes", RULES)
    assert choice.outcome == ANSWER and choice.kind == "yes" and choice.share > 0.9


def test_a_close_call_is_unclear_never_a_guess():
    scores = {"yes": [("ya", ln(0.4), 2)], "no": [("tidak", ln(0.3), 2)]}
    choice = decide(scores, "di", RULES)
    assert choice.outcome == UNCLEAR


def test_sometimes_and_yes_do_not_compete():
    scores = {"yes": [("yes", ln(0.4), 2)], "sometimes": [("a bit", ln(0.4), 3)], "no": [("no", ln(0.01), 2)]}
    choice = decide(scores, "yes", RULES)
    assert choice.outcome == ANSWER and choice.kind in ("yes", "sometimes")


def test_on_a_danger_screen_a_no_that_reads_the_audio_poorly_is_unclear():
    # Shares alone said "tidak" (no) for a "ya" in babble: 98% of a poor lot, -4.1 a token.
    poor_no = {"no": [("tidak", 2 * -4.11, 2)], "yes": [("iya", 2 * -7.4, 2)]}
    screen = Rules(share=0.8, floor=-6.0, no_fit=-3.8)
    assert decide(poor_no, "gila", screen).outcome == UNCLEAR
    assert decide(poor_no, "gila", Rules(share=0.8, floor=-6.0)).outcome == ANSWER  # a cause question
    poor_yes = {"yes": [("iya", 2 * -4.11, 2)], "no": [("tidak", 2 * -7.4, 2)]}
    assert decide(poor_yes, "gila", screen).kind == "yes"  # a yes by mistake hides nothing
    plain_no = {"no": [("tidak", 2 * -3.61, 2)], "yes": [("pernah", 3 * -4.5, 3)]}
    assert decide(plain_no, "di nuk", screen).outcome == ANSWER  # espeak-ng's plain "tidak"


def test_on_a_danger_screen_a_no_must_hold_more_of_every_class_than_a_yes():
    # The shape of espeak-ng's "ya" in pink noise on a processor without AVX-512: "tidak" read the
    # audio well enough (-2.3 a token) and beat yes by far, but held only 0.87 of all classes.
    no_by_a_little = {"no": [("tidak", 3 * -2.3, 3)], "stop": [("cukup", 3 * -3.1, 3)],
                      "unsure": [("mungkin", 3 * -3.2, 3)], "yes": [("tentu", 3 * -3.4, 3)]}
    screen = Rules(share=0.9, floor=-6.0, no_fit=-3.8, no_share=0.9)
    assert decide(no_by_a_little, "", screen).outcome == UNCLEAR
    assert decide(no_by_a_little, "", Rules(share=0.9, floor=-6.0, no_fit=-3.8)).outcome == ANSWER
    clear_no = {"no": [("tidak", 2 * -1.8, 2)], "yes": [("tentu saja", 3 * -3.4, 3)]}
    assert decide(clear_no, "di mak", screen).kind == "no"
    yes_by_a_little = {"yes": [("iya", 3 * -2.3, 3)], "stop": [("cukup", 3 * -3.1, 3)],
                       "unsure": [("mungkin", 3 * -3.2, 3)], "no": [("tidak", 3 * -3.4, 3)]}
    assert decide(yes_by_a_little, "", screen).kind == "yes"  # a yes by mistake hides nothing


def test_the_conversation_says_when_its_question_is_a_danger_screen():
    from assistant.config import Settings
    from assistant.chat import Conversation

    conversation = Conversation(Settings(language="en"))
    conversation("my calf cramps when I walk")
    assert conversation.listening_phrases() and conversation.asking_about_danger
    for _ in range(12):
        if not conversation.asking_about_danger:
            break
        conversation("no")
    if conversation.listening_phrases():  # a cause question after the screens
        assert not conversation.asking_about_danger


def test_a_sentence_instead_of_an_answer_is_heard_freely():
    scores = {"yes": [("i am", ln(0.5), 3)], "no": [("no", ln(0.001), 2)]}
    assert decide(scores, "my chest hurts when i walk", RULES).outcome == FREE


def test_audio_no_phrase_fits_is_heard_freely():
    scores = {"yes": [("yes", -30.0, 3)], "no": [("no", -29.0, 3)]}
    assert decide(scores, "", RULES).outcome == FREE
    assert decide({}, "", RULES).outcome == FREE


def test_spellings_are_the_ones_whisper_writes():
    written = {"i": "I", "dont": "don't"}
    assert spellings("i dont think so", written) == ["I don't think so", "I don't think so."]
    forms = spellings("tidak juga", {}, {"tidak": ("nggak", "ndak")})
    assert {"Tidak juga", "Nggak juga.", "Ndak juga"} <= set(forms)


def test_everyday_forms_come_from_the_spelling_table_and_typed_abbreviations_do_not():
    spelling = load_knowledge().pack("id").language.spelling
    forms = spoken_forms(spelling)
    assert {"nggak", "enggak", "ndak", "gak"} <= set(forms["tidak"])
    assert "tdk" not in forms["tidak"]
    assert "bener" in forms["benar"]


def test_every_answer_form_of_the_issue_has_a_class_in_the_listening_set():
    """What the closed set can hear; forms missing here must be added to intents/<lang>/language.yaml."""
    for language, wanted in {"en": {"yes": "yes", "no": "no", "nope": "no", "not really": "no",
                                    "i dont think so": "no", "i think so": "yes", "yeah": "yes", "yep": "yes",
                                    "aye": "yes"},
                             "id": {"iya": "yes", "ya": "yes", "betul": "yes", "sudah": "yes", "tidak": "no",
                                    "belum": "no", "tidak juga": "no", "iya betul": "yes"}}.items():
        classes = classes_of(listening_phrases(load_knowledge().pack(language)), language)
        for phrase, kind in wanted.items():
            assert classes.get(phrase) == kind, (language, phrase, classes.get(phrase))
