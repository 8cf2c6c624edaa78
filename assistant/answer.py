"""One turn with no memory: text in, triage and a spoken-style reply out (`calf-assistant ask`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.config import Settings
from assistant.errors import InputError
from assistant.knowledge import load_knowledge
from assistant.reply import assessment_sentences, watch_for_sentences
from assistant.triage import Triage, triage
from assistant.understanding import MAX_TEXT_CHARS, Findings, Utterance, detect_language, understand


@dataclass(frozen=True)
class Answer:
    language: str
    findings: Findings
    triage: Triage
    reply: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.language,
            "triage": self.triage.level,
            "red_flags": list(self.triage.red_flags),
            "causes": [{"id": cid, "score": score} for cid, score in self.triage.causes],
            "reply": self.reply,
        }


def check_text(text: str) -> str:
    """Refuse input no person said aloud; return it stripped."""
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"the text is {len(text)} characters long; describe the symptoms in at most {MAX_TEXT_CHARS}"
        )
    if "\x00" in text or any("\udc80" <= ch <= "\udcff" for ch in text):
        raise InputError("the text contains bytes that are not readable words; send plain UTF-8 text")
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    if text and printable < len(text) * 0.9:
        raise InputError("the text is mostly control characters, not words; send plain text")
    return text.strip()


def answer_text(text: str, language: str, settings: Settings) -> Answer:
    """Understand one description and say what it may point to. `language` may be 'auto'."""
    text = check_text(text)
    words = Utterance(text)
    if language == "auto":
        language = detect_language(words, default="en")
    knowledge = load_knowledge()
    pack = knowledge.pack(language)
    findings = understand(words, language, knowledge)
    result = triage(findings, knowledge)
    if not text:
        sentences = pack.reply_sentences("empty_input") + watch_for_sentences(pack, settings)
    else:
        sentences = assessment_sentences(result, findings, pack, settings)
    return Answer(language, findings, result, " ".join(sentences))


def ask_command(args, settings: Settings) -> int:
    text = " ".join(args.text)
    answer = answer_text(text, settings.language, settings)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(answer.reply)
    return 0
