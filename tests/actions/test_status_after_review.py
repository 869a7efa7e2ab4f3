"""我的申请审核到哪了 after a reviewer's decision: the real action (actions/flow.py tell_status) on
the real database names the decided status's response with its variables."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.flow import ActionCheckStatus
from bot.change_requests import review
from bot.change_requests.filing import ChangeDetails, Document, file_change_request, new_idempotency_key
from bot.change_requests.rejections import RejectionReason
from bot.channel_trust import verified_metadata
from bot.db.engine import session_scope
from bot.ops.demo import seed
from bot.responses import response_text

from domain_fixtures import merchant, signed

MERCHANT = "822100000000001"
CONVERSATION = f"webchat-{MERCHANT}"
DETAILS = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                        account_number="6222021000000000124", account_name="张伟",
                        holder_id_number="310101198503171233",
                        documents=frozenset({Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT}))


@pytest.fixture
def reference(engine, session) -> str:
    seed(session)
    session.commit()
    signed(session, MERCHANT, CONVERSATION, DETAILS)
    filed = file_change_request(session, merchant(session, MERCHANT), DETAILS, new_idempotency_key(), "webchat",
                                CONVERSATION)
    return filed.request.reference


def ask_status() -> list[dict]:
    metadata = verified_metadata(MERCHANT)
    latest = {"text": "我的申请审核到哪了", "intent": {"name": "check_status"}, "entities": [], "metadata": metadata}
    events = [{"event": "user", "text": latest["text"], "input_channel": "webchat", "metadata": metadata}]
    tracker = Tracker(CONVERSATION, {}, latest, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionCheckStatus().run(dispatcher, tracker, {}))
    return dispatcher.messages


def told(messages: list[dict], response: str) -> str:
    """The text the merchant reads: the response filled with the variables the action passed."""
    [message] = [message for message in messages if message.get("response") == response]
    variables = {key: value for key, value in message.items() if isinstance(value, str)}
    return response_text(response, **variables)


def test_under_review_before_a_decision(reference: str) -> None:
    assert "当前状态：审核中" in told(ask_status(), "utter_status")


def test_approved(reference: str) -> None:
    with session_scope() as session:
        review.approve(session, reference, "alice")
    messages = ask_status()
    assert [message.get("response") for message in messages][1:] == ["utter_status_approved", "utter_anything_else"]
    answer = told(messages, "utter_status_approved")
    assert answer.startswith(f"您的申请 {reference}（新卡 中国工商银行 尾号0124）已于 ")
    assert "审核通过。新卡在结算账户切换完成后生效" in answer and "交易款项仍结算至原卡" in answer
    assert "{" not in answer


def test_rejected_with_the_reason_and_what_to_do(reference: str) -> None:
    with session_scope() as session:
        review.reject(session, reference, "bob", RejectionReason.NO_AUTHORISATION_LETTER)
    answer = told(ask_status(), "utter_status_rejected")
    assert "未通过审核，原因：非同名结算未提供授权书。请准备清算授权书后重新申请，或改用本人名下的银行卡。" in answer
    assert "原结算卡继续有效" in answer and "{" not in answer


def test_documents_asked_for(reference: str) -> None:
    with session_scope() as session:
        review.ask_for_documents(session, reference, "alice", [Document.CARD_FRONT])
    messages = ask_status()
    assert "当前状态：待补充材料" in told(messages, "utter_status")
    [missing] = [message for message in messages if message.get("response") == "utter_status_missing"]
    assert missing["missing"] == "新结算卡正面照片"


def test_completed(reference: str) -> None:
    with session_scope() as session:
        review.approve(session, reference, "alice")
        review.complete(session, reference, "alice")
    answer = told(ask_status(), "utter_status_completed")
    assert "已完成：结算卡已于" in answer and "变更为 中国工商银行 尾号0124" in answer
