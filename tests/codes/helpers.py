"""Helpers of the one-time code tests: a conversation, a change to sign, sending and verifying
with the injected clock (nothing sleeps), reading the code from the SMS outbox, enrolling an
authenticator. The demo data and the outbox come from tests/domain_fixtures.py."""
from __future__ import annotations

import re
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from bot.change_requests.filing import ChangeDetails
from bot.codes import SendResult, VerifyResult, confirm_enrolment, send_code, start_enrolment, verify_code
from bot.db.models import VerificationPurpose

from domain_fixtures import NOW, Outbox, merchant

IDENTIFY, SIGN, ENROL = VerificationPurpose.IDENTIFY, VerificationPurpose.SIGN_CHANGE, VerificationPurpose.ENROL
SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")
CONVERSATION = "conv-1"
NEW_CARD = ChangeDetails(
    reason="原卡丢失",
    bank_code="ICBC",
    bank_name="中国工商银行",
    account_number="6222021000000000124",
    account_name="张伟",
    holder_id_number="310101198503171233",
    opening_branch="上海分行营业部",
)


def code_of(message: dict) -> str:
    runs = SIX_DIGIT_RUN.findall(message["text"])
    assert len(runs) == 1, message["text"]
    return runs[0]


def send(session: Session, number: str = "822100000000001", purpose: VerificationPurpose = IDENTIFY,
         at: datetime = NOW, conversation: str = CONVERSATION, change: ChangeDetails | None = None,
         **kwargs: object) -> SendResult:
    return send_code(session, merchant(session, number), purpose, conversation_id=conversation, change=change, now=at,
                     **kwargs)


def verify(session: Session, code: str, number: str = "822100000000001", purpose: VerificationPurpose = IDENTIFY,
           at: datetime = NOW, conversation: str = CONVERSATION, change: ChangeDetails | None = None) -> VerifyResult:
    return verify_code(session, merchant(session, number), purpose, code, conversation_id=conversation,
                       change=change, now=at)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def enrol(session: Session, outbox: Outbox, at: datetime = NOW) -> str:
    """An enrolment code by SMS, then enrol an authenticator for merchant 822100000000001: its secret."""
    send(session, purpose=ENROL, at=at)
    assert verify(session, code_of(outbox.last()), purpose=ENROL, at=at).ok
    enrolment = start_enrolment(session, merchant(session, "822100000000001"), conversation_id=CONVERSATION, now=at)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/")
    assert "822100000000001" in enrolment.provisioning_uri and "issuer=" in enrolment.provisioning_uri
    assert not enrolment.replaces_existing
    code = pyotp.TOTP(enrolment.secret).at(at)
    assert confirm_enrolment(session, merchant(session, "822100000000001"), code, now=at).ok
    return enrolment.secret
