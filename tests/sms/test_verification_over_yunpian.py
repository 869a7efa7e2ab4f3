"""SMS codes with the Yunpian gateway: a demo merchant's code goes out through the (fake) Yunpian
API and verifies; a refused SMS is NOT_DELIVERED and counts against nobody; an SMS whose delivery
is unknown (the answer lost after sending) stays valid and is never sent twice behind the
merchant's back. Real HTTP on loopback, no mocks."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import Outcome, send_code, verify_code
from bot.db.models import AuditEvent, VerificationChallenge, VerificationPurpose
from bot.sms.yunpian import YunpianSmsGateway
from domain_fixtures import NOW, merchant
from sms.fake_yunpian import FakeYunpian

SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")
CONVERSATION = "conv-yunpian"
IDENTIFY = VerificationPurpose.IDENTIFY


def audited(session: Session, action: str) -> list[dict]:
    return list(session.execute(select(AuditEvent.detail).where(AuditEvent.action == action)).scalars())


def test_identification_code_goes_out_through_yunpian_and_verifies(
    demo: Session, var_dir: Path, fake_yunpian: FakeYunpian, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_GATEWAY", "bot.sms.yunpian:YunpianSmsGateway")
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION)
    assert result.outcome is Outcome.OK and result.phone_masked == "138****0001"
    assert not result.delivery_unknown

    [sms] = fake_yunpian.sent
    assert sms.mobile == "13800000001"  # the registered phone, from the database
    [code] = SIX_DIGIT_RUN.findall(sms.text)
    assert sms.text == f"【结算助手】您的验证码是{code}，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"
    assert not (var_dir / "sms_outbox.jsonl").exists()  # Yunpian, not the development outbox

    verified = verify_code(demo, owner, IDENTIFY, code, conversation_id=CONVERSATION)
    assert verified.outcome is Outcome.OK


def test_a_code_yunpian_refuses_is_not_delivered_and_not_counted(demo: Session, fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.balance = 0.0
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway())
    assert result.outcome is Outcome.NOT_DELIVERED and result.phone_masked == "138****0001"
    assert len(fake_yunpian.requests) == 1 and fake_yunpian.sent == []
    # Not sent: no challenge that could verify or count towards the phone's limits.
    assert demo.execute(select(VerificationChallenge)).first() is None
    [failed] = audited(demo, "verification.send_failed")
    assert failed["error"] == "YunpianError" and failed["phone"] == "138****0001"

    fake_yunpian.balance = 10.0  # topped up: the merchant can ask again at once
    assert send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway()).ok
    assert [sms.mobile for sms in fake_yunpian.sent] == ["13800000001"]


def test_yunpian_unavailable_is_not_delivered(demo: Session, fake_yunpian: FakeYunpian,
                                              gateway: YunpianSmsGateway) -> None:
    fake_yunpian.fail(3, status=503)  # turned away unprocessed, every attempt: certainly not sent
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=gateway)
    assert result.outcome is Outcome.NOT_DELIVERED
    assert len(fake_yunpian.requests) == 3 and fake_yunpian.sent == []
    assert demo.execute(select(VerificationChallenge)).first() is None


def test_a_lost_answer_keeps_the_code_that_arrived_valid_and_sends_no_second(
    demo: Session, fake_yunpian: FakeYunpian, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUNPIAN_TIMEOUT_S", "0.3")
    fake_yunpian.delay(1, seconds=1.0)  # Yunpian accepts the SMS, but answers after the client gave up
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway(), now=NOW)
    assert result.ok and result.delivery_unknown and result.phone_masked == "138****0001"
    assert len(fake_yunpian.requests) == 1  # not retried

    # "没收到" at once: the usual wait, not a second code that would make the first one useless.
    again = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway(),
                      now=NOW + timedelta(seconds=5))
    assert again.outcome is Outcome.TOO_SOON and again.retry_after == 55
    assert len(fake_yunpian.requests) == 1

    [sms] = fake_yunpian.wait_for_sent(1)  # it did arrive
    [code] = SIX_DIGIT_RUN.findall(sms.text)
    verified = verify_code(demo, owner, IDENTIFY, code, conversation_id=CONVERSATION, now=NOW + timedelta(seconds=30))
    assert verified.ok and verified.challenge_id == result.challenge_id
    [unknown] = audited(demo, "verification.delivery_unknown")
    assert unknown["challenge_id"] == result.challenge_id and unknown["phone"] == "138****0001"
    assert audited(demo, "verification.send_failed") == []


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxy_error_after_sending_is_delivery_unknown_and_a_resend_follows_the_interval(
    demo: Session, fake_yunpian: FakeYunpian, status: int
) -> None:
    fake_yunpian.fail(1, status=status)  # this fake's proxy never passed it on: the SMS never arrives
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway(), now=NOW)
    assert result.ok and result.delivery_unknown
    assert fake_yunpian.sent == []
    assert demo.execute(select(VerificationChallenge.id)).scalar_one() == result.challenge_id  # kept: it may arrive

    # The merchant asks again after the interval: one new code, the only one that arrives, verifies.
    resent = send_code(demo, owner, IDENTIFY, conversation_id=CONVERSATION, gateway=YunpianSmsGateway(),
                       now=NOW + timedelta(seconds=60))
    assert resent.ok and not resent.delivery_unknown
    [sms] = fake_yunpian.sent
    [code] = SIX_DIGIT_RUN.findall(sms.text)
    assert verify_code(demo, owner, IDENTIFY, code, conversation_id=CONVERSATION, now=NOW + timedelta(seconds=70)).ok
