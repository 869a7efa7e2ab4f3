"""What the channel keeps in the database: deduplicated pushes, the shared token, bindings."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from bot.db.engine import session_scope
from bot.db.models import Merchant, WeChatBinding, WeChatInboundMessage
from bot.ops.demo import seed
from bot.channel_trust import wechat_conversation_id
from bot.wechat import bind_openid, bound_merchant_number, openid_from_conversation_id, store
from bot.workdays import utcnow
from wechat.conftest import separate_sessions


def test_a_push_is_recorded_once_whichever_process_sees_it(any_db):
    first_process, second_process = separate_sessions(any_db), separate_sessions(any_db)
    with session_scope(first_process) as session:
        assert store.record_inbound(session, "msg:1001", "oUser", "text") is True
    with session_scope(second_process) as session:
        assert store.record_inbound(session, "msg:1001", "oUser", "text") is False
        assert store.record_inbound(session, "msg:1002", "oUser", "text") is True
    with session_scope(first_process) as session:
        store.finish_inbound(session, "msg:1001", store.Outcome.REPLIED)
    with session_scope(second_process) as session:
        rows = session.execute(select(WeChatInboundMessage).order_by(WeChatInboundMessage.id)).scalars().all()
        assert [(row.dedup_key, row.outcome) for row in rows] == [("msg:1001", "replied"), ("msg:1002", None)]
        assert rows[0].processed_at is not None and rows[1].processed_at is None


def test_old_push_records_can_be_forgotten(sessions):
    with session_scope(sessions) as session:
        store.record_inbound(session, "msg:1", "oUser", "text")
    with session_scope(sessions) as session:
        assert store.forget_inbound(session, timedelta(days=30)) == 0
        assert store.forget_inbound(session, timedelta(days=30), now=utcnow() + timedelta(days=31)) == 1
    with session_scope(sessions) as session:
        assert store.record_inbound(session, "msg:1", "oUser", "text") is True


def test_the_token_is_stored_encrypted_and_replaced(sessions):
    with session_scope(sessions) as session:
        store.save_token(session, "wx1", "TOKEN-A", 7200)
    with session_scope(sessions) as session:
        store.save_token(session, "wx1", "TOKEN-B", 7200)
    with session_scope(sessions) as session:
        cached = store.load_token(session, "wx1")
        assert cached.token == "TOKEN-B"
        assert cached.usable(utcnow(), 300)
        assert not cached.usable(utcnow() + timedelta(seconds=7200 - 299), 300)
        stored = session.execute(text("SELECT access_token FROM wechat_access_tokens")).scalar_one()
        assert "TOKEN-B" not in stored  # a credential: encrypted at rest


def test_only_one_worker_claims_the_refresh_of_a_rejected_token(any_db):
    one, other = separate_sessions(any_db), separate_sessions(any_db)
    with session_scope(one) as session:
        store.save_token(session, "wx1", "TOKEN-A", 7200)
    # Both workers read the row before either claims.
    with session_scope(one) as first, session_scope(other) as second:
        decision_first = store.claim_token_refresh(first, "wx1", "TOKEN-A")
        first.commit()
        decision_second = store.claim_token_refresh(second, "wx1", "TOKEN-A")
    assert decision_first.claimed and not decision_second.claimed
    assert decision_second.token is None
    with session_scope(one) as session:
        store.save_token(session, "wx1", "TOKEN-B", 7200)
    with session_scope(other) as session:
        # Rejected again with the old token: someone renewed it already, use theirs.
        assert store.claim_token_refresh(session, "wx1", "TOKEN-A").token == "TOKEN-B"
    with session_scope(other) as session:
        assert store.claim_token_refresh(session, "wx-none", "X").claimed


def test_binding_a_follower_is_idempotent_and_follows_the_last_identification(session):
    seed(session)
    session.commit()
    first = session.execute(select(Merchant).where(Merchant.merchant_number == "822100000000001")).scalar_one()
    second = session.execute(select(Merchant).where(Merchant.merchant_number == "822100000000002")).scalar_one()
    assert bound_merchant_number(session, "oFollower") is None
    bind_openid(session, "oFollower", first)
    bind_openid(session, "oFollower", first)
    session.commit()
    assert session.execute(select(WeChatBinding)).scalars().all()[0].merchant_id == first.id
    assert bound_merchant_number(session, "oFollower") == "822100000000001"
    bind_openid(session, "oFollower", second)
    session.commit()
    assert len(session.execute(select(WeChatBinding)).scalars().all()) == 1
    assert bound_merchant_number(session, "oFollower") == "822100000000002"
    with pytest.raises(ValueError):
        bind_openid(session, "not an openid", first)


def test_the_openid_of_a_wechat_conversation():
    assert openid_from_conversation_id(wechat_conversation_id("oAbC_12-x")) == "oAbC_12-x"
    for other in ("webchat-822100000000001", "rest-user", "wechat-", "wechat-has space", "wechat", None):
        assert openid_from_conversation_id(other) is None
