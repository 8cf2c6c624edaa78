"""Answer and command matching: is this utterance a yes, a no, or a command, in a language's words?

Below both the dialogue (which reads answers and commands in typed or heard text) and the
recognisers (whose yes/no listening must accept exactly what the dialogue would read), so neither
has to import the other.
"""

from __future__ import annotations

from assistant.knowledge import LanguagePack
from assistant.understanding import Utterance, heard

COMMAND_SLACK = 2
"""Extra words allowed around a command phrase ("please repeat that"); longer talk is a sentence."""

ANSWERS = ("yes", "no", "unsure", "sometimes")


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
