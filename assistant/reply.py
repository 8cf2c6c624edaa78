"""What to say about one assessment: danger first, then likely causes, what to do, when to get help.

Every sentence comes from intents/<lang>/; this module only chooses and orders them. Urgent and
emergency replies always include the emergency numbers from the settings.
"""

from __future__ import annotations

from assistant.config import Settings
from assistant.knowledge import LanguagePack, Statement, load_knowledge
from assistant.triage import Triage
from assistant.understanding import Findings

SECOND_CAUSE_SHARE = 0.2


def spoken_numbers(pack: LanguagePack, settings: Settings) -> str:
    numbers = list(settings.emergency_numbers(pack.code))
    joiner = f" {pack.reply('or_word')} "
    return joiner.join(numbers)


def _join_names(names: list[str], pack: LanguagePack) -> str:
    return f" {pack.reply('or_word')} ".join(names)


def _texts(statements: tuple[Statement, ...], short: bool) -> list[str]:
    texts = [s.text for s in statements]
    return texts[:1] if short else texts


def danger_sentences(triage: Triage, pack: LanguagePack, settings: Settings, *, short: bool = False) -> list[str]:
    """Advice for red flags and urgent signs; empty when there is no danger."""
    numbers = spoken_numbers(pack, settings)
    sentences: list[str] = []
    rules = load_knowledge().rules
    flags = [rule for rule in rules.red_flags if rule.id in triage.red_flags]
    # Emergencies before urgent ones: the first thing heard must be the most important.
    flags.sort(key=lambda rule: rule.level != "emergency")
    if triage.level == "emergency":
        sentences += pack.reply_sentences("emergency_first")
        sentences += pack.reply_sentences("emergency_call", numbers=numbers)
    elif triage.level == "urgent":
        sentences += pack.reply_sentences("urgent_first")
    else:
        return []
    if flags:
        names = [pack.red_flags[rule.id].name for rule in flags]
        sentences.append(pack.reply("flag_intro", name=_join_names(names, pack)))
    # With several signs at once, the first step of each; the whole advice of all would bury the number.
    for rule in flags:
        sentences += _texts(pack.red_flags[rule.id].advice, short or len(flags) > 1)
    for sign_id in triage.urgent_signs:
        sentences.append(pack.urgent_signs[sign_id].text)
    if triage.level == "emergency":
        sentences += pack.reply_sentences("emergency_repeat", numbers=numbers)
    else:
        sentences += pack.reply_sentences("level_urgent")
        sentences += pack.reply_sentences("urgent_call", numbers=numbers)
    return sentences


def watch_for_sentences(pack: LanguagePack, settings: Settings) -> list[str]:
    """The safety net after calm advice: the danger signs to watch for and the number to call."""
    return pack.reply_sentences("watch_for", numbers=spoken_numbers(pack, settings))


def open_sign_sentences(screen_ids, pack: LanguagePack, settings: Settings) -> list[str]:
    """For each danger screen the person was not sure about: the sign, and what to do if it appears."""
    numbers = spoken_numbers(pack, settings)
    return [pack.screens[screen_id].if_unsure.text.format(numbers=numbers) for screen_id in screen_ids]


def named_causes(triage: Triage) -> list[str]:
    """The causes a reply names: the likeliest, and a second only when it is a real contender (a
    long list confuses a listener)."""
    if not triage.causes:
        return []
    top_id = triage.causes[0][0]
    return [cid for cid, score in triage.causes[:2] if cid == top_id or score >= SECOND_CAUSE_SHARE]


def cause_sentences(
    triage: Triage, findings: Findings, pack: LanguagePack, *, short: bool = False, first_aid_given: bool = False
) -> list[str]:
    """Likely causes in plain words, what to do now and when to see a doctor."""
    if not triage.causes:
        return []
    sentences: list[str] = []
    top_id = triage.causes[0][0]
    top = pack.causes[top_id]
    named = [pack.causes[cid].name for cid in named_causes(triage)]
    sentences += pack.reply_sentences("causes_intro", causes=_join_names(named, pack))
    sentences += _texts(top.explanation, short)
    if not (short and first_aid_given):
        sentences += _texts(top.what_to_do, short)
    if triage.level in ("self_care", "routine"):
        sentences += pack.reply_sentences(f"level_{triage.level}")
    if not short:
        sentences.append(top.see_doctor.text)
    return sentences


def assessment_sentences(
    triage: Triage, findings: Findings, pack: LanguagePack, settings: Settings
) -> list[str]:
    """The whole answer to one description, in speaking order."""
    short = settings.mid_walk
    if not triage.in_domain and not triage.red_flags and not triage.urgent_signs:
        # One turn cannot ask about danger, so even an off-topic answer names what to watch for.
        return pack.reply_sentences("out_of_domain") + watch_for_sentences(pack, settings)
    sentences: list[str] = []
    first_aid = "cramp_now" in findings.present and not triage.red_flags
    if first_aid:
        sentences += pack.reply_sentences("cramp_now_short" if short else "cramp_now")
    sentences += danger_sentences(triage, pack, settings, short=short)
    # With a danger sign, self-care steps for a cause (like rubbing the calf) could do harm.
    if not triage.red_flags:
        sentences += cause_sentences(
            triage, findings, pack, short=short or bool(triage.urgent_signs), first_aid_given=first_aid
        )
    sentences += pack.reply_sentences("disclaimer")
    if not triage.is_danger:
        sentences += watch_for_sentences(pack, settings)
    return sentences
