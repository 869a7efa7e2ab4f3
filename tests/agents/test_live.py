"""A handed-off conversation, live (bot/agents/live.py) and the channels' outbox (bot/agents/outbox.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents import live, outbox
from bot.agents.handoff import MERCHANT_REQUEST, open_handoff
from bot.db.models import AuditEvent

from domain_fixtures import DEMO_SECRETS, NOW, merchant


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def _handoff(session: Session, conversation: str = "webchat-822100000000001", channel: str = "webchat"):
    return open_handoff(session, conversation, channel, MERCHANT_REQUEST, merchant=merchant(session, "822100000000001"),
                        collected_values={"new_account_number": "6222021000000000124"},
                        transcript=[{"from": "merchant", "text": "卡号6222021000000000124"}], now=NOW).handoff


def test_the_queue_lists_waiting_conversations_oldest_first_masked(demo: Session) -> None:
    first = _handoff(demo, "webchat-a")
    second = _handoff(demo, "wechat-b", "wechat")
    entries = live.queue(demo, now=NOW.replace(minute=40))
    assert [entry.id for entry in entries] == [first.id, second.id]
    assert entries[0].merchant_masked == "****0001" and entries[0].waiting_seconds == 600
    assert entries[0].overdue  # 10 minutes > the 5 configured


def test_two_agents_claim_one_conversation_and_one_wins(demo: Session) -> None:
    handoff = _handoff(demo)
    live.claim(demo, handoff.id, "wang")
    with pytest.raises(live.AlreadyClaimed):
        live.claim(demo, handoff.id, "li")
    assert live.claim(demo, handoff.id, "wang").agent == "wang"  # clicking twice is harmless


def test_a_reply_reaches_the_outbox_once_and_notes_never_do(demo: Session) -> None:
    handoff = _handoff(demo)
    with pytest.raises(live.NotYours):
        live.reply(demo, handoff.id, "wang", "王客服", "您好")
    live.claim(demo, handoff.id, "wang")
    live.record_merchant_message(demo, handoff.conversation_id, "我的新卡是6222021000000000124")
    live.reply(demo, handoff.id, "wang", "王客服", "您好，我来帮您处理")
    live.note(demo, handoff.id, "wang", "王客服", "商户情绪稳定")
    messages = live.messages_after(demo, handoff.id)
    assert [m["from"] for m in messages] == ["merchant", "agent", "note"]
    assert "6222021000000000124" not in str(messages) and "****0124" in messages[0]["text"]
    assert live.messages_after(demo, handoff.id, messages[1]["id"]) == messages[2:]

    waiting = outbox.undelivered(demo, "webchat")
    assert [(m.text, m.author_name) for m in waiting] == [("您好，我来帮您处理", "王客服")]
    assert outbox.mark_delivered(demo, waiting[0].id) and not outbox.mark_delivered(demo, waiting[0].id)
    assert outbox.undelivered(demo, "webchat") == []
    actions = demo.execute(select(AuditEvent.action).where(AuditEvent.actor == "staff:wang")).scalars().all()
    assert actions == ["handoff.claimed", "handoff.replied", "handoff.noted"]


def test_rest_messages_come_with_the_next_message(demo: Session) -> None:
    outbox.post(demo, "rest-1", "rest", "审核已通过")
    demo.commit()
    assert [m.text for m in outbox.take_for_conversation(demo, "rest-1")] == ["审核已通过"]
    assert outbox.take_for_conversation(demo, "rest-1") == []


def test_the_agents_view_is_masked(demo: Session) -> None:
    view = live.conversation_view(demo, _handoff(demo).id)
    assert view["collected_values"]["new_account_number"] == "****0124"
    assert not any(secret in str(view) for secret in DEMO_SECRETS + ["6222021000000000124"])
