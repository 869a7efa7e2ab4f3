"""The agents' pages (console/handoffs.py) through Flask's test client: the queue, claiming, the
conversation page, replies, notes, hand-back and close, the live streams."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents import handback, live, outbox
from bot.agents.handoff import resolve_handoff
from bot.db.models import AuditEvent, Handoff, HandoffStatus
from bot.workdays import utcnow
from console import canned_replies

from console.conftest import csrf, hand_off, post, signed_in
from domain_fixtures import DEMO_SECRETS

FULL_NUMBERS = DEMO_SECRETS + ["6222021000000000124", "6222021000000000125", "310101198503171233"]


def _actions(session: Session, actor: str) -> list[str]:
    session.expire_all()
    return session.execute(select(AuditEvent.action).where(AuditEvent.actor == actor)
                           .order_by(AuditEvent.id)).scalars().all()


def _events(client: FlaskClient, path: str) -> list[tuple[str, dict]]:
    """Every event of one (short, in tests) stream: (name, data)."""
    reply = client.get(path, buffered=False)
    assert reply.status_code == 200 and reply.mimetype == "text/event-stream"
    body = b"".join(reply.response).decode()
    reply.close()
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


# --- the queue ---------------------------------------------------------------------------------

def test_the_queue_shows_waiting_conversations_oldest_first_overdue_in_red(staff: Session, wang: FlaskClient) -> None:
    old = hand_off(staff, now=utcnow() - timedelta(minutes=12))
    new = hand_off(staff, "wechat-oNew", "wechat", "822100000000002")
    page = wang.get("/handoffs").get_data(as_text=True)
    assert page.index(f'data-id="{old.id}"') < page.index(f'data-id="{new.id}"')
    assert f'class="waiting overdue" data-id="{old.id}"' in page and f'class="waiting" data-id="{new.id}"' in page
    assert "商户要求人工" in page and "网页聊天" in page and "微信公众号" in page
    assert "****0001 张伟" in page and "12分" in page
    assert "822100000000001" not in page  # the merchant number masked too


def test_an_active_conversation_shows_its_agent(staff: Session, wang: FlaskClient, li: FlaskClient) -> None:
    handoff = hand_off(staff)
    assert post(wang, f"/handoffs/{handoff.id}/claim").status_code == 303
    page = li.get("/handoffs").get_data(as_text=True)
    assert "处理中（王客服）" in page and f'/handoffs/{handoff.id}/claim' not in page


def test_pages_admit_agents_only(app, staff: Session) -> None:
    handoff = hand_off(staff)
    anonymous = app.test_client()
    assert anonymous.get("/handoffs").status_code == 302
    assert anonymous.get("/api/handoffs/stream").status_code == 401
    reviewer = signed_in(app.test_client(), "zhao", start="/handoffs")
    for path in ("/handoffs", f"/handoffs/{handoff.id}", "/api/handoffs/stream", f"/api/handoffs/{handoff.id}/stream"):
        assert reviewer.get(path).status_code == 403, path
    token = csrf(reviewer)  # from the login page: the agents' pages give a reviewer none
    for action in ("claim", "reply", "note", "handback", "resolve"):
        assert reviewer.post(f"/handoffs/{handoff.id}/{action}", data={"csrf_token": token, "text": "x"}).status_code == 403


# --- claiming ----------------------------------------------------------------------------------

def test_two_agents_claim_one_conversation_the_second_is_told_who_has_it(
        staff: Session, wang: FlaskClient, li: FlaskClient) -> None:
    handoff = hand_off(staff)
    first = post(wang, f"/handoffs/{handoff.id}/claim")
    assert first.status_code == 303 and first.location.endswith(f"/handoffs/{handoff.id}")
    second = post(li, f"/handoffs/{handoff.id}/claim")
    assert second.status_code == 303 and second.location.endswith("/handoffs")
    assert "该会话已被王客服接入" in li.get("/handoffs").get_data(as_text=True)
    refused = post(li, f"/handoffs/{handoff.id}/claim", json=True)
    assert refused.status_code == 409 and "王客服" in refused.get_json()["message"]
    staff.expire_all()
    assert staff.get(Handoff, handoff.id).agent == "wang"
    assert _actions(staff, "staff:li") == ["staff.login", "handoff.claim_refused", "handoff.claim_refused"]
    assert "handoff.claimed" in _actions(staff, "staff:wang")


def test_an_unknown_conversation_is_404(wang: FlaskClient) -> None:
    assert wang.get("/handoffs/999").status_code == 404
    assert post(wang, "/handoffs/999/claim").status_code == 404


# --- the conversation page ---------------------------------------------------------------------

def test_the_conversation_page_shows_transcript_values_and_failures_masked(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    live.record_merchant_message(staff, handoff.conversation_id, "我的身份证是310101198503171233")
    page = wang.get(f"/handoffs/{handoff.id}").get_data(as_text=True)
    for shown in ("我要修改结算卡", "请输入新结算卡卡号", "新结算卡号", "****0124", "身份证号", "****1233",
                  "办理方式", "线上办理", "未通过校验的输入", "****0125", "我的身份证是****1233", "商户要求人工",
                  "网页聊天", "****0001 张伟", "交还机器人", "结束会话", "问候"):
        assert shown in page, shown
    assert not [secret for secret in FULL_NUMBERS if secret in page]
    assert "handoff.viewed" in _actions(staff, "staff:wang")


def test_no_page_shows_a_full_card_or_id_number(staff: Session, wang: FlaskClient, li: FlaskClient) -> None:
    handoff = hand_off(staff, collected_values={
        "merchant_number": "822100000000001", "holder_id_number": DEMO_SECRETS[-2],
        "new_account_number": DEMO_SECRETS[0]}, transcript=[" ".join(DEMO_SECRETS)])
    post(wang, f"/handoffs/{handoff.id}/claim")
    post(wang, f"/handoffs/{handoff.id}/reply", text="您的卡号是" + DEMO_SECRETS[1])
    post(wang, f"/handoffs/{handoff.id}/note", text="身份证" + DEMO_SECRETS[-1])
    pages = [client.get(path).get_data(as_text=True) for client in (wang, li)
             for path in ("/handoffs", f"/handoffs/{handoff.id}")]
    pages += [str(_events(wang, path)) for path in ("/api/handoffs/stream", f"/api/handoffs/{handoff.id}/stream")]
    for html in pages:
        assert not [secret for secret in DEMO_SECRETS if secret in html]


def test_the_page_escapes_what_merchants_type(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff, transcript=["<script>alert(1)</script>"])
    page = wang.get(f"/handoffs/{handoff.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_canned_replies_are_buttons_that_carry_their_text(staff: Session, wang: FlaskClient) -> None:
    replies = canned_replies.load()  # the trainers' file itself: a typo fails here
    assert len(replies) >= 3
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    page = wang.get(f"/handoffs/{handoff.id}").get_data(as_text=True)
    assert f'data-text="{replies[0].text}"' in page and f">{replies[0].title}</button>" in page


def test_a_bad_canned_replies_file_is_refused_with_the_entry(tmp_path) -> None:
    path = tmp_path / "canned.yml"
    path.write_text("replies:\n  - title: 问候\n    text: 您好\n  - title: 空的\n", encoding="utf-8")
    with pytest.raises(canned_replies.InvalidCannedReplies, match="reply 2"):
        canned_replies.load(path)


# --- replies and notes ----------------------------------------------------------------------------

def test_a_reply_reaches_the_outbox_with_the_agents_name_and_a_note_does_not(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    sent = post(wang, f"/handoffs/{handoff.id}/reply", json=True, text="您好，我来帮您处理")
    assert sent.status_code == 200 and sent.get_json()["ok"]
    noted = post(wang, f"/handoffs/{handoff.id}/note", text="商户情绪稳定")
    assert noted.status_code == 303  # a form post without the script: back to the page
    assert [(m.text, m.author_name) for m in outbox.undelivered(staff, "webchat")] == [("您好，我来帮您处理", "王客服")]
    page = wang.get(f"/handoffs/{handoff.id}").get_data(as_text=True)
    assert '<div class="msg note"' in page and "商户情绪稳定" in page and "备注已保存" in page
    assert _actions(staff, "staff:wang")[-3:] == ["handoff.replied", "handoff.noted", "handoff.viewed"]


def test_only_the_claiming_agent_replies(staff: Session, wang: FlaskClient, li: FlaskClient) -> None:
    handoff = hand_off(staff)
    early = post(li, f"/handoffs/{handoff.id}/reply", json=True, text="您好")
    assert early.status_code == 409 and "请先接入" in early.get_json()["message"]
    post(wang, f"/handoffs/{handoff.id}/claim")
    refused = post(li, f"/handoffs/{handoff.id}/reply", json=True, text="您好")
    assert refused.status_code == 403 and "王客服" in refused.get_json()["message"]
    for action in ("handback", "resolve"):
        assert post(li, f"/handoffs/{handoff.id}/{action}", json=True).status_code == 403
    assert outbox.undelivered(staff, "webchat") == []
    assert "<textarea id=\"reply-text\"" not in li.get(f"/handoffs/{handoff.id}").get_data(as_text=True)
    assert _actions(staff, "staff:li").count("handoff.refused") == 4
    assert post(li, f"/handoffs/{handoff.id}/note", text="我看一下").status_code == 303  # notes: any agent


def test_an_empty_reply_is_refused(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    assert post(wang, f"/handoffs/{handoff.id}/reply", json=True, text="  ").status_code == 400


def test_a_post_without_the_csrf_token_is_refused(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    assert wang.post(f"/handoffs/{handoff.id}/claim").status_code == 400
    assert wang.post(f"/handoffs/{handoff.id}/claim", headers={"X-CSRFToken": "forged"}).status_code == 400


# --- hand-back and close -----------------------------------------------------------------------

@pytest.fixture
def finished(monkeypatch) -> list[tuple[str, int, str]]:
    """hand_back_to_bot and close_conversation, as the console calls them: they resolve the
    handoff and record the call (what they say to Rasa: tests/agents/test_handback.py)."""
    calls: list[tuple[str, int, str]] = []

    def recorder(name: str):
        def finish(session: Session, handoff_id: int, username: str) -> Handoff:
            calls.append((name, handoff_id, username))
            return resolve_handoff(session, handoff_id, username)
        return finish

    monkeypatch.setattr(handback, "hand_back_to_bot", recorder("hand_back_to_bot"))
    monkeypatch.setattr(handback, "close_conversation", recorder("close_conversation"))
    return calls


def test_hand_back_gives_the_merchant_to_the_bot_and_leaves_the_queue(
        staff: Session, wang: FlaskClient, finished) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    done = post(wang, f"/handoffs/{handoff.id}/handback")
    assert done.status_code == 303 and done.location.endswith("/handoffs")
    assert finished == [("hand_back_to_bot", handoff.id, "wang")]
    staff.expire_all()
    assert staff.get(Handoff, handoff.id).status == HandoffStatus.RESOLVED
    page = wang.get("/handoffs").get_data(as_text=True)
    assert "已交还机器人" in page and f'data-id="{handoff.id}"' not in page
    late = post(wang, f"/handoffs/{handoff.id}/reply", json=True, text="还有问题吗？")
    assert late.status_code == 409 and "已交还机器人或已结束" in late.get_json()["message"]


def test_resolve_closes_the_conversation(staff: Session, wang: FlaskClient, finished) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    done = post(wang, f"/handoffs/{handoff.id}/resolve", json=True)
    assert done.status_code == 200 and "会话已结束" in done.get_json()["message"]
    assert finished == [("close_conversation", handoff.id, "wang")]


@pytest.mark.parametrize("action, function", [("handback", "hand_back_to_bot"), ("resolve", "close_conversation")])
def test_when_rasa_did_not_hear_the_agent_clicks_again(
        staff: Session, wang: FlaskClient, finished, monkeypatch, action: str, function: str) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    working = getattr(handback, function)

    def unreachable(session: Session, handoff_id: int, username: str) -> Handoff:
        resolve_handoff(session, handoff_id, username)  # resolved first, then Rasa does not answer
        raise handback.RasaUnreachable("connection refused")

    monkeypatch.setattr(handback, function, unreachable)
    failed = post(wang, f"/handoffs/{handoff.id}/{action}", json=True)
    assert failed.status_code == 502 and "请稍后再点一次" in failed.get_json()["message"]
    monkeypatch.setattr(handback, function, working)
    assert post(wang, f"/handoffs/{handoff.id}/{action}", json=True).status_code == 200  # resolved, still hers
    assert finished == [(function, handoff.id, "wang")]


# --- live --------------------------------------------------------------------------------------

def test_the_queue_stream_sends_the_queue_once_until_it_changes(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    events = _events(wang, "/api/handoffs/stream")
    assert [name for name, _ in events] == ["queue"]  # a whole stream (1 s in tests), nothing changed
    [entry] = events[0][1]["entries"]
    assert entry["id"] == handoff.id and entry["merchant"] == "****0001 张伟" and entry["reason"] == "商户要求人工"
    assert events[0][1]["overdue_after_seconds"] == 300


def test_the_conversation_stream_sends_new_messages_and_the_state(staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    post(wang, f"/handoffs/{handoff.id}/claim")
    live.record_merchant_message(staff, handoff.conversation_id, "还在吗？")
    [first] = live.messages_after(staff, handoff.id)
    live.record_merchant_message(staff, handoff.conversation_id, "我的卡号6222021000000000124")
    events = _events(wang, f"/api/handoffs/{handoff.id}/stream?after={first['id']}")
    messages = [data for name, data in events if name == "message"]
    assert [m["text"] for m in messages] == ["我的卡号****0124"]
    assert ("status", {"status": "active", "status_label": "处理中", "agent": "王客服"}) in events
    # The browser reconnecting says where it was with Last-Event-ID.
    reconnect = wang.get(f"/api/handoffs/{handoff.id}/stream?after=0", buffered=False,
                         headers={"Last-Event-ID": str(messages[-1]["id"])})
    assert b"event: message" not in b"".join(reconnect.response)


def test_a_stream_ends_when_the_agent_signs_out(staff: Session, app, wang: FlaskClient) -> None:
    app.config["CONSOLE_STREAM_OPTIONS"] = {"poll_seconds": 0.01, "heartbeat_seconds": 0.0, "stream_seconds": 30}
    stream = wang.get("/api/handoffs/stream", buffered=False)
    chunks = iter(stream.response)
    assert next(chunks).startswith(b"retry:")
    post(wang, "/logout")
    started = time.monotonic()
    rest = b"".join(chunks)  # the next heartbeat's check ends it, long before the 30 s
    assert time.monotonic() - started < 5 and b"event:" not in rest  # nothing more after the logout
