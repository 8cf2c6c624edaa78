"""The alert itself: one JSON object, the same on every channel.

Its fields are a contract with the caregiver's automations (Home Assistant, ntfy, scripts), so
they only ever grow. `event_type` is there because Home Assistant's MQTT event entity takes the
event's type from that key of the payload.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

LEVELS = ("none", "self_care", "routine", "urgent", "emergency")
TEST = "test"

ADVICE_REPLY = {"emergency": "emergency_call", "urgent": "urgent_call"}
"""The reply (intents/<lang>/replies.yaml) whose advice the person heard, by level."""

TITLES = {
    "en": {
        "emergency": "Emergency: the calf assistant told them to call {numbers}",
        "urgent": "Urgent: the calf assistant advised a doctor today",
        TEST: "Test alert from the calf assistant",
    },
    "id": {
        "emergency": "Darurat: asisten betis menyuruh menelepon {numbers}",
        "urgent": "Mendesak: asisten betis menyarankan ke dokter hari ini",
        TEST: "Peringatan uji dari asisten betis",
    },
}
"""Caregiver-facing titles (ntfy's Title header), in the language of the conversation."""

MESSAGES = {
    "en": {"signs": "Danger signs: {flags}.", "none": "No named danger sign.", "at": "Said at {time}.",
           "late": "Sent late: it waited since then.", TEST: "If you read this, alerts reach you."},
    "id": {"signs": "Tanda bahaya: {flags}.", "none": "Tidak ada tanda bahaya bernama.", "at": "Diucapkan pukul {time}.",
           "late": "Terkirim terlambat: menunggu sejak itu.", TEST: "Jika Anda membaca ini, peringatan sampai."},
}


def rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def _now() -> datetime:
    # Local time with its offset: a caregiver reads the hour the person knows, and a program can
    # still compare it exactly.
    return datetime.now(timezone.utc).astimezone()


@dataclass(frozen=True)
class Alert:
    level: str
    """urgent, emergency, or test for `calf-assistant alerts test`."""

    red_flags: tuple[str, ...]
    """Ids of the danger signs heard (MEDICAL_FACTS.md); empty when the person asked for help."""

    language: str
    numbers: tuple[str, ...]
    """The emergency numbers the person was told to call."""

    conversation: str
    """Shared by every alert of one conversation."""

    reply: str = ""
    """The reply id of the advice given (see ADVICE_REPLY)."""

    question: str | None = None
    """The danger question asked right after the advice, if any."""

    words: tuple[str, ...] | None = None
    """What the person said; only when alerts.include_words is true."""

    channels: tuple[str, ...] = ()
    """The channels that owe this alert a delivery (mqtt, webhook)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Stays the same on every try, so a receiver can drop a repeat."""

    time: str = field(default_factory=lambda: _now().isoformat(timespec="seconds"))
    """When the advice was given, ISO 8601 with the zone."""

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "event_type": self.level,
            "time": self.time,
            "level": self.level,
            "red_flags": list(self.red_flags),
            "advice": {"reply": self.reply, "emergency_numbers": list(self.numbers)},
            "language": self.language,
            "conversation": self.conversation,
            "late": False,
            "source": "calf-assistant",
        }
        if self.question:
            body["advice"]["question"] = self.question
        if self.words is not None:
            body["words"] = list(self.words)
        return body

    def store(self, connection) -> None:
        """Into the outbox, inside the caller's transaction (the diary's turn)."""
        from assistant.alerts import outbox

        outbox.add(connection, self)


def as_sent(payload: dict[str, Any], late_after: float, now: datetime | None = None) -> dict[str, Any]:
    """The payload as it leaves now: marked late when it waited longer than late_after seconds."""
    now = now or _now()
    try:
        waited = (now - datetime.fromisoformat(payload["time"])).total_seconds()
    except (KeyError, ValueError, TypeError):
        waited = 0.0
    if waited <= late_after:
        return payload
    return {**payload, "late": True, "sent_at": now.isoformat(timespec="seconds")}


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def title(payload: dict[str, Any]) -> str:
    texts = TITLES.get(payload.get("language"), TITLES["en"])
    numbers = " / ".join(payload.get("advice", {}).get("emergency_numbers", [])) or "112"
    return texts.get(payload.get("level"), texts["urgent"]).format(numbers=numbers)


def message(payload: dict[str, Any]) -> str:
    """A plain line for a phone notification: the signs, the time, and late when it waited."""
    texts = MESSAGES.get(payload.get("language"), MESSAGES["en"])
    if payload.get("level") == TEST:
        return texts[TEST]
    flags = payload.get("red_flags") or []
    parts = [texts["signs"].format(flags=", ".join(flag.replace("_", " ") for flag in flags)) if flags else texts["none"]]
    try:
        parts.append(texts["at"].format(time=datetime.fromisoformat(payload["time"]).strftime("%H:%M")))
    except (KeyError, ValueError, TypeError):
        pass
    if payload.get("late"):
        parts.append(texts["late"])
    return " ".join(parts)
