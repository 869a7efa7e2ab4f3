"""Session start: brand slots, and an idle form ending with a notice and nothing carried over."""
from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.session import ActionSessionStart


def _tracker(active_loop: dict | None) -> Tracker:
    events = [
        {"event": "slot", "name": "merchant_number", "value": "822100000000001"},
        {"event": "slot", "name": "merchant_verified", "value": True},
        {"event": "slot", "name": "new_account_number", "value": "6222021000000000124"},
    ]
    return Tracker("idle-test", {}, {}, events, False, None, active_loop or {}, "action_listen")


def _run(tracker: Tracker) -> tuple[list, list]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionSessionStart().run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def test_idle_form_expires_with_a_notice_and_forgets_the_attempt(monkeypatch):
    monkeypatch.setenv("BRAND_NAME", "测试收单")
    messages, events = _run(_tracker({"name": "change_form"}))
    assert [message["response"] for message in messages] == ["utter_form_expired"]
    carried = {event["name"]: event["value"] for event in events if event["event"] == "slot"}
    assert carried["merchant_number"] == "822100000000001"
    assert "merchant_verified" not in carried and "new_account_number" not in carried
    assert carried["brand_name"] == "测试收单"
    assert events[0]["event"] == "session_started" and events[-1]["name"] == "action_listen"


def test_new_session_without_a_form_says_nothing():
    messages, _ = _run(_tracker(None))
    assert messages == []


def test_nothing_set_before_a_restart_carries_over():
    # An agent closed the handed-off conversation (bot/agents/handback.py close_conversation).
    events = [{"event": "slot", "name": "merchant_number", "value": "822100000000001"},
              {"event": "slot", "name": "handoff", "value": {"id": 7, "resume": "change_form"}},
              {"event": "restart"}]
    _, started = _run(Tracker("closed-test", {}, {}, events, False, None, {}, "action_listen"))
    carried = {event["name"] for event in started if event["event"] == "slot"}
    assert carried == {"brand_name", "service_hotline", "review_days"}
