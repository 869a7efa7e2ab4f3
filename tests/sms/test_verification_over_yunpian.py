"""The verification service with the Yunpian gateway: a demo merchant's code goes out through the
(fake) Yunpian API, verifies, and a refused SMS counts against nobody."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, VerificationChallenge
from bot.sms.gateway import SmsDeliveryError
from bot.sms.yunpian import YunpianSmsGateway
from bot.codes.verification import Outcome, VerificationPurpose, send_code, verify_code
from domain_fixtures import merchant
from sms.fake_yunpian import FakeYunpian

SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")
CONVERSATION = "conv-yunpian"


def test_identification_code_goes_out_through_yunpian_and_verifies(
    demo: Session, var_dir: Path, fake_yunpian: FakeYunpian, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_GATEWAY", "bot.sms.yunpian:YunpianSmsGateway")
    owner = merchant(demo, "822100000000001")
    result = send_code(demo, owner, VerificationPurpose.IDENTIFY, conversation_id=CONVERSATION)
    assert result.outcome is Outcome.OK and result.phone_masked == "138****0001"

    [sms] = fake_yunpian.sent
    assert sms.mobile == "13800000001"  # the registered phone, from the database
    [code] = SIX_DIGIT_RUN.findall(sms.text)
    assert sms.text == f"【结算助手】您的验证码是{code}，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"
    assert not (var_dir / "sms_outbox.jsonl").exists()  # Yunpian, not the development outbox

    verified = verify_code(demo, owner, VerificationPurpose.IDENTIFY, code, conversation_id=CONVERSATION)
    assert verified.outcome is Outcome.OK


def test_a_code_yunpian_refuses_is_not_counted(demo: Session, fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.balance = 0.0
    owner = merchant(demo, "822100000000001")
    with pytest.raises(SmsDeliveryError) as caught:
        send_code(demo, owner, VerificationPurpose.IDENTIFY, conversation_id=CONVERSATION,
                  gateway=YunpianSmsGateway())
    assert "code 3 (insufficient account balance)" in str(caught.value.__cause__)
    assert len(fake_yunpian.requests) == 1 and fake_yunpian.sent == []
    # Not sent: no challenge that could verify or count towards the phone's limits.
    assert demo.execute(select(VerificationChallenge)).first() is None
    assert demo.execute(
        select(AuditEvent).where(AuditEvent.action == "verification.send_failed")
    ).first() is not None

    fake_yunpian.balance = 10.0  # topped up: the merchant can ask again at once
    assert send_code(demo, owner, VerificationPurpose.IDENTIFY, conversation_id=CONVERSATION,
                     gateway=YunpianSmsGateway()).ok
    assert [sms.mobile for sms in fake_yunpian.sent] == ["13800000001"]
