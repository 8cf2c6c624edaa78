"""Caregiver alerts without a network: settings, which turns alert, the outbox, late marking."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from assistant import alerts, diary
from assistant.alerts import message, outbox
from assistant.config import AlertSettings, Settings, from_table
from assistant.chat import Conversation
from assistant.errors import ConfigError

RED_FLAG = "my calf hurts and I have chest pain and cannot breathe"


@pytest.fixture(autouse=True)
def _no_sender(monkeypatch):
    # Logic only here: the couriers are tested against a real broker in tests/integration.
    monkeypatch.setattr(alerts, "start", lambda *args, **kwargs: None)


def _settings(**values) -> Settings:
    return replace(Settings(), alerts=replace(AlertSettings(), webhook_url="http://127.0.0.1:9/x", **values))


@pytest.mark.parametrize("table, fragment", [
    ({"mqtt_uri": "http://host"}, "alerts.mqtt_uri must look like mqtt://"),
    ({"mqtt_uri": "mqtt://u:hunter2@"}, "u:***@"),
    ({"level": "routine"}, "alerts.level must be urgent or emergency"),
    ({"webhook_url": "ntfy.sh/topic"}, "alerts.webhook_url must be an http:// or https:// address"),
    ({"mqtt_topic": "a/#"}, "alerts.mqtt_topic"),
    ({"late_after": 0}, "alerts.late_after"),
])
def test_a_wrong_alert_setting_is_one_line_naming_it(table, fragment):
    with pytest.raises(ConfigError) as caught:
        from_table({"version": 1, "alerts": table}, "config.toml")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_defaults_alert_nobody():
    assert not Settings().alerts.enabled and Settings().alerts.late_after == 3600


def _waiting() -> list[outbox.Waiting]:
    with closing(diary.connect()) as connection:
        return outbox.waiting(connection)


def test_a_red_flag_turn_is_stored_with_its_alert_and_told_once():
    conversation = Conversation(_settings(include_words=True))
    conversation(RED_FLAG)
    rows = _waiting()
    assert len(rows) == 1 and rows[0].channel == "webhook"
    payload = rows[0].payload
    assert payload["level"] == "emergency" and "pulmonary_embolism" in payload["red_flags"]
    assert payload["words"] == [RED_FLAG] and payload["advice"]["emergency_numbers"] == ["112"]
    # the same turn is in the diary: one transaction wrote both
    entry, = diary.load()
    assert entry.red_flags == tuple(payload["red_flags"])
    conversation("repeat")
    assert len(_waiting()) == 1


def test_a_calm_turn_and_the_urgent_level_below_emergency_raise_nothing():
    conversation = Conversation(_settings(level="emergency"))
    conversation("my calf cramps at night")
    assert _waiting() == []


def test_words_stay_out_unless_asked_for():
    Conversation(_settings())(RED_FLAG)
    assert "words" not in _waiting()[0].payload


def test_the_diary_off_still_keeps_the_alert():
    settings = replace(_settings(), diary=replace(Settings().diary, enabled=False))
    Conversation(settings)(RED_FLAG)
    assert len(_waiting()) == 1 and diary.load() == []


def test_a_failed_turn_write_rolls_back_its_alert_then_stores_it_apart(monkeypatch):
    def broken(connection, alert):
        raise sqlite3.OperationalError("disk I/O error")

    conversation = Conversation(_settings())
    monkeypatch.setattr(outbox, "add", broken)
    conversation(RED_FLAG)
    monkeypatch.undo()
    assert _waiting() == []  # nothing half-written; the in-memory path takes it (no sender here)


def test_an_alert_that_waited_past_late_after_is_marked_late():
    alert = message.Alert(level="emergency", red_flags=("pulmonary_embolism",), language="id", numbers=("112", "119"),
                          conversation="c")
    payload = alert.payload()
    assert message.as_sent(payload, 3600) is payload
    later = datetime.fromisoformat(payload["time"]) + timedelta(hours=2)
    sent = message.as_sent(payload, 3600, now=later.astimezone(timezone.utc))
    assert sent["late"] is True and sent["id"] == payload["id"]
    assert message.title(sent) == "Darurat: asisten betis menyuruh menelepon 112 / 119"
    assert "Terkirim terlambat" in message.message(sent) and "pulmonary embolism" in message.message(sent)


def test_back_off_doubles_up_to_retry_max():
    from assistant.alerts.sender import next_wait

    assert [next_wait(tries, 10.0) for tries in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
