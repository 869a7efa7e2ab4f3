"""`action_handoff_waiting`, the bot's turn for every merchant message while handed off: the message
is recorded for the agent (masked), and the merchant gets the waiting message until an agent claims
the conversation, then only the delivered mark."""
from __future__ import annotations

import asyncio
import threading

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import repair
from actions.repair import ActionHandoffWaiting
from bot.agents import handoff, live
from bot.agents.handoff import resolve_handoff

CONVERSATION = "webchat-822100000000001"


@pytest.fixture
def ticket(session) -> int:
    opened = handoff.open_handoff(session, CONVERSATION, "webchat", handoff.MERCHANT_REQUEST,
                                  collected_values={"change_reason": "原卡丢失"})
    return opened.handoff.id


def _tracker(text: str, resume: str | None = "change_form", ticket_id: int = 1) -> Tracker:
    slots = {"handoff": {"id": ticket_id, "resume": resume}, "merchant_verified": True,
             "merchant_number": "822100000000001"}
    return Tracker(CONVERSATION, slots, {"text": text, "intent": {"name": "inform"}}, [], False, None, {},
                   "action_listen")


def _run(text: str, ticket_id: int = 1) -> tuple[list[str], list]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionHandoffWaiting().run(dispatcher, _tracker(text, ticket_id=ticket_id), {}))
    return [message.get("response") for message in dispatcher.messages], events


def _transcript(session, ticket_id: int) -> list[tuple[str, str]]:
    session.expire_all()
    return [(row["from"], row["text"]) for row in live.messages_after(session, ticket_id)]


def test_while_waiting_each_message_is_recorded_and_acknowledged(session, ticket):
    said, events = _run("还要等多久？", ticket)
    assert said == ["utter_handoff_waiting"] and events == []
    said, _ = _run("我的新卡号是6222021000000000124", ticket)
    assert said == ["utter_handoff_waiting"]
    transcript = _transcript(session, ticket)
    assert transcript[0] == ("merchant", "还要等多久？")
    assert transcript[1][0] == "merchant" and "6222021000000000124" not in transcript[1][1]
    assert "0124" in transcript[1][1]  # masked, as the ticket's transcript is


def test_once_an_agent_claimed_it_the_bot_only_marks_the_message_delivered(session, ticket):
    live.claim(session, ticket, "wang")
    said, events = _run("好的，我等您", ticket)
    assert said == ["utter_handoff_delivered"] and events == []
    assert _transcript(session, ticket) == [("merchant", "好的，我等您")]


def test_a_button_or_an_upload_is_recorded_by_its_intent_not_its_data(session, ticket):
    _run('/document_uploaded{"document_id": "d-1234"}', ticket)
    assert _transcript(session, ticket) == [("merchant", "/document_uploaded")]


def test_a_handoff_closed_behind_rasas_back_returns_to_the_bot(session, ticket):
    resolve_handoff(session, ticket, "wang")
    said, events = _run("在吗", ticket)
    assert said == ["utter_handoff_closed", "utter_resumed"]
    assert {"event": "slot", "name": "handoff", "value": None, "timestamp": None} in events
    assert _transcript(session, ticket) == []  # nothing recorded in a closed ticket


def test_recording_runs_in_a_worker_thread_not_on_the_event_loop(session, ticket, monkeypatch):
    threads = []
    record = live.record_merchant_message

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread())
        return record(*args, **kwargs)

    monkeypatch.setattr(repair.live, "record_merchant_message", recorded)
    _run("你好", ticket)
    assert threads and threads[0] is not threading.main_thread()
    assert threads[0].name.startswith("action-work")


def test_a_later_tickets_transcript_leaves_out_an_agents_hand_back():
    from actions.common import transcript

    events = [{"event": "user", "text": "转人工"}, {"event": "bot", "text": "已为您转接人工客服"},
              {"event": "user", "text": "EXTERNAL: resume_bot", "metadata": {"is_external": True}},
              {"event": "bot", "text": "好的，我们接着办理"}]
    tracker = Tracker(CONVERSATION, {}, {}, events, False, None, {}, "action_listen")
    assert [line["text"] for line in transcript(tracker)] == ["转人工", "已为您转接人工客服", "好的，我们接着办理"]
