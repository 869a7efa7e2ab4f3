"""Handoff to a human agent, bot side: masked context, pause and resume, one open per conversation."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.agents import handoff
from bot.db.models import AuditEvent, Handoff, HandoffStatus
from bot.agents.handoff import assign, is_paused, open_handoff, resolve_handoff
from bot.agents.views import list_handoffs

from domain_fixtures import DEMO_SECRETS, merchant

CARD, ID_NUMBER = "6227002000000000522", "330102199501206548"  # demo merchant 7


def open_with_secrets(session: Session, conversation: str = "conv-7"):
    return open_handoff(
        session,
        conversation,
        "rest",
        handoff.REPEATED_VALIDATION_FAILURE,
        merchant=merchant(session, "822100000000007"),
        collected_values={"bank": "中国建设银行", "card_number": CARD, "id_number": ID_NUMBER,
                          "account_name": "孙丽", "phone": "13900000000"},
        transcript=[
            {"sender": "user", "text": f"卡号{CARD}"},
            {"sender": "bot", "text": "卡号校验未通过，请核对。"},
            {"sender": "user", "text": "６２２７ ００２０ ００００ ０００ ５２２"},
            {"sender": "user", "text": "身份证三三零一零二一九九五零一二零六五四八"},
            "我要转人工",
        ],
        failed_inputs={"card_number": [CARD, "6227002000000000523", "622700200"], "new_card_number": ["6227"]},
        note=f"merchant typed {ID_NUMBER}",
    )


def test_only_masked_values_are_stored(demo: Session) -> None:
    result = open_with_secrets(demo)
    assert result.created
    row = demo.execute(text("SELECT * FROM handoffs")).one()
    dump = json.dumps([str(value) for value in row], ensure_ascii=False)
    audit_dump = repr(demo.execute(text("SELECT * FROM audit_events")).all())
    leaks = [secret for secret in DEMO_SECRETS + ["6227002000000000523"] if secret in dump or secret in audit_dump]
    assert leaks == []
    context = result.handoff.context
    assert context["collected_values"]["card_number"] == "****0522"
    assert context["collected_values"]["id_number"] == "****6548"
    # Phone numbers too (issue 12): the agent sees the registered phone masked, like everywhere else.
    assert context["collected_values"]["phone"] == "****0000"
    assert context["transcript"][0] == {"sender": "user", "text": "卡号****0522"}
    assert "****0522" in context["transcript"][2]["text"]
    assert context["transcript"][3]["text"] == "身份证****6548"
    assert context["transcript"][4] == {"from": "merchant", "text": "我要转人工"}
    # A card slot is masked whatever the length of what was typed.
    assert context["failed_inputs"]["card_number"] == ["****0522", "****0523", "****0200"]
    assert context["failed_inputs"]["new_card_number"] == ["****6227"]
    assert context["merchant_number"] == "822100000000007"


def test_pause_assign_and_resume(demo: Session) -> None:
    assert not is_paused(demo, "conv-7")
    opened = open_with_secrets(demo).handoff
    assert opened.status is HandoffStatus.WAITING and is_paused(demo, "conv-7")
    assert not is_paused(demo, "another-conversation")

    assert assign(demo, opened.id, "lihua").status is HandoffStatus.ACTIVE
    assert is_paused(demo, "conv-7")
    resolved = resolve_handoff(demo, opened.id, "lihua")
    assert resolved.status is HandoffStatus.RESOLVED and resolved.agent == "lihua"
    assert not is_paused(demo, "conv-7")
    assert resolve_handoff(demo, opened.id, "lihua").status is HandoffStatus.RESOLVED  # idempotent
    with pytest.raises(ValueError):
        assign(demo, opened.id, "lihua")

    actions = demo.execute(select(AuditEvent.action).where(AuditEvent.action.like("handoff.%")).order_by(AuditEvent.id))
    assert actions.scalars().all() == ["handoff.opened", "handoff.assigned", "handoff.resolved"]
    # After the merchant was handed back, a new trigger opens a new ticket.
    assert open_handoff(demo, "conv-7", "rest", handoff.MERCHANT_REQUEST).created


def test_one_open_handoff_per_conversation(demo: Session) -> None:
    first = open_with_secrets(demo)
    second = open_handoff(demo, "conv-7", "rest", handoff.COMPLAINT)
    assert not second.created and second.handoff.id == first.handoff.id
    assert demo.execute(select(func.count(Handoff.id))).scalar_one() == 1


def test_listed_for_the_console(demo: Session) -> None:
    open_handoff(demo, "conv-9", "wechat", handoff.OVERDUE_REQUEST, merchant=merchant(demo, "822100000000004"))
    rows = list_handoffs(demo)
    assert rows[0]["conversation_id"] == "conv-9" and rows[0]["status"] == "waiting"
    assert rows[0]["reason"] == "overdue_request" and rows[0]["merchant_id"] == "822100000000004"


def test_unknown_reason_is_refused(demo: Session) -> None:
    with pytest.raises(ValueError):
        open_handoff(demo, "conv-1", "rest", "bored")


def test_unknown_handoff_id(demo: Session) -> None:
    with pytest.raises(handoff.HandoffNotFound):
        resolve_handoff(demo, 999, "lihua")
