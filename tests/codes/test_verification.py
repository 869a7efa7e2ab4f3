"""One-time codes against a real database (SQLite; PostgreSQL too when TEST_POSTGRES_URL is set).

Time is injected (`now=`): nothing sleeps.
"""
from __future__ import annotations

import hmac
import inspect
import json
import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.codes import verification
from bot.db.models import AuditEvent, MerchantSecurity, VerificationChallenge
from bot.change_requests.filing import ChangeDetails
from bot.codes.verification import (
    NotVerified,
    Outcome,
    VerificationPurpose,
    confirm_enrolment,
    lock_remaining,
    pending_purpose,
    send_code,
    start_enrolment,
    totp_enabled,
    verify_code,
    verify_totp,
)

from domain_fixtures import DEMO_SECRETS, NOW, Outbox, merchant

IDENTIFY, SIGN = VerificationPurpose.IDENTIFY, VerificationPurpose.SIGN_CHANGE
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


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def code_of(message: dict) -> str:
    runs = SIX_DIGIT_RUN.findall(message["text"])
    assert len(runs) == 1, message["text"]
    return runs[0]


def send(session: Session, number: str = "822100000000001", purpose=IDENTIFY, at=NOW, conversation=CONVERSATION,
         change=None):
    return send_code(session, merchant(session, number), purpose, conversation_id=conversation, change=change, now=at)


def verify(session: Session, code: str, number: str = "822100000000001", purpose=IDENTIFY, at=NOW,
           conversation=CONVERSATION, change=None):
    return verify_code(session, merchant(session, number), purpose, code, conversation_id=conversation,
                       change=change, now=at)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- sending -------------------------------------------------------------------------------------


def test_identify_code_goes_to_the_registered_phone_in_the_contract_format(demo: Session, outbox: Outbox) -> None:
    result = send(demo)
    assert result.outcome is Outcome.OK and result.phone_masked == "138****0001"
    assert result.expires_at == NOW + timedelta(minutes=5)
    message = outbox.last()
    assert set(message) == {"to", "text", "sent_at"}
    assert message["to"] == "13800000001"
    code = code_of(message)
    assert message["text"] == f"【结算助手】您的验证码是{code}，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"


def test_no_caller_can_choose_the_phone(demo: Session, outbox: Outbox) -> None:
    # The conversation may mention any number ("发到13900000000"); the API has no place for it.
    for function in (send_code, verify_code, start_enrolment, confirm_enrolment):
        assert not any("phone" in name for name in inspect.signature(function).parameters)
    send(demo, "822100000000006", conversation="发到13900000000")
    assert [m["to"] for m in outbox.messages()] == ["13800000006"]


def test_brand_name_comes_from_configuration(demo: Session, outbox: Outbox, monkeypatch) -> None:
    monkeypatch.setenv("BRAND_NAME", "示例收单")
    send(demo)
    assert outbox.last()["text"].startswith("【示例收单】您的验证码是")


def test_a_brand_with_a_six_digit_run_is_refused_before_anything_is_sent(demo: Session, outbox: Outbox,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("BRAND_NAME", "收单123456")
    with pytest.raises(ValueError):
        send(demo)
    assert outbox.messages() == []
    assert demo.execute(select(VerificationChallenge)).first() is None


def test_signing_sms_names_bank_and_last_four_only(demo: Session, outbox: Outbox) -> None:
    assert send(demo, purpose=SIGN, change=NEW_CARD).ok
    message = outbox.last()
    code = code_of(message)
    assert message["text"] == (
        f"【结算助手】您的验证码是{code}，5分钟内有效。您正在将结算卡变更为中国工商银行尾号0124的账户，请勿告诉他人。"
    )
    assert NEW_CARD.account_number not in message["text"] and "0210000" not in message["text"]
    assert NEW_CARD.holder_id_number not in message["text"]
    with pytest.raises(ValueError):
        send(demo, purpose=SIGN, change=None, at=NOW + timedelta(minutes=2))


def test_nothing_secret_is_stored_or_audited(demo: Session, outbox: Outbox) -> None:
    send(demo, purpose=SIGN, change=NEW_CARD)
    code = code_of(outbox.last())
    verify(demo, wrong(code), purpose=SIGN, change=NEW_CARD)
    verify(demo, code, purpose=SIGN, change=NEW_CARD)
    rows = [json.dumps([str(v) for v in row], ensure_ascii=False)
            for table in ("verification_challenges", "audit_events")
            for row in demo.execute(text(f"SELECT * FROM {table}"))]
    dump = "\n".join(rows)
    assert code not in dump
    assert not [secret for secret in DEMO_SECRETS + [NEW_CARD.account_number] if secret in dump]
    actions = demo.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert actions[-2:] == ["verification.code_sent", "verification.verified"]


# --- verifying -----------------------------------------------------------------------------------


def test_code_is_valid_five_minutes_and_single_use(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, at=NOW + timedelta(minutes=4, seconds=59)).outcome is Outcome.OK
    assert verify(demo, code, at=NOW + timedelta(minutes=5)).outcome is Outcome.NO_CHALLENGE  # used


def test_code_expires_after_five_minutes(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, at=NOW + timedelta(minutes=5, seconds=1)).outcome is Outcome.EXPIRED


def test_full_width_code_is_accepted(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    full_width = "".join(chr(ord(digit) + 0xFEE0) for digit in code)
    assert verify(demo, full_width).ok


def test_codes_are_compared_in_constant_time(demo: Session, outbox: Outbox, monkeypatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(verification.hmac, "compare_digest", spy)
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, wrong(code)).outcome is Outcome.WRONG_CODE
    assert verify(demo, code).ok
    assert (code, wrong(code)) in calls and (code, code) in calls


def test_nothing_sent_means_no_challenge(demo: Session) -> None:
    assert verify(demo, "123456").outcome is Outcome.NO_CHALLENGE


def test_a_code_works_only_in_its_conversation_and_for_its_purpose(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, conversation="someone-else").outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code, purpose=SIGN, change=NEW_CARD).outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code).ok


def test_signing_code_is_void_once_a_detail_is_corrected(demo: Session, outbox: Outbox) -> None:
    send(demo, purpose=SIGN, change=NEW_CARD)
    code = code_of(outbox.last())
    corrected = ChangeDetails(**{**NEW_CARD.__dict__, "account_number": "6222021000000000215"})
    assert verify(demo, code, purpose=SIGN, change=corrected).outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code, purpose=SIGN, change=NEW_CARD).ok


def test_text_that_is_not_a_code_is_not_counted(demo: Session, outbox: Outbox) -> None:
    send(demo)
    result = verify(demo, "abc")
    assert result.outcome is Outcome.WRONG_CODE and result.attempts_left == 5
    assert verify(demo, "12345").attempts_left == 5


def test_five_wrong_codes_lock_the_merchant_for_thirty_minutes(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    left = [verify(demo, wrong(code), at=NOW + timedelta(seconds=i)).attempts_left for i in range(4)]
    assert left == [4, 3, 2, 1]
    fifth = verify(demo, wrong(code), at=NOW + timedelta(seconds=10))
    assert fifth.outcome is Outcome.LOCKED and fifth.retry_after == 30 * 60

    locked_at = NOW + timedelta(seconds=10)
    later = locked_at + timedelta(minutes=10)
    again = verify(demo, code, at=later)  # even the right code
    assert again.outcome is Outcome.LOCKED and again.retry_after == 20 * 60
    assert send(demo, at=later).outcome is Outcome.LOCKED
    assert lock_remaining(demo, merchant(demo, "822100000000001"), later) == 20 * 60

    events = demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.locked")).scalars().all()
    assert len(events) == 1
    assert events[0].merchant.merchant_number == "822100000000001"
    assert events[0].detail["attempts"] == 5 and events[0].detail["method"] == "sms"

    unlocked = locked_at + timedelta(minutes=30)
    assert verify(demo, code, at=unlocked).outcome is Outcome.NO_CHALLENGE  # that challenge is void
    assert send(demo, at=unlocked).ok
    assert verify(demo, code_of(outbox.last()), at=unlocked).ok


def test_lock_is_per_merchant(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    for i in range(5):
        verify(demo, wrong(code), at=NOW + timedelta(seconds=i))
    assert send(demo, "822100000000006").ok


def test_resend_within_sixty_seconds_is_refused_with_the_wait(demo: Session, outbox: Outbox) -> None:
    assert send(demo).ok
    first = code_of(outbox.last())
    too_soon = send(demo, at=NOW + timedelta(seconds=45))
    assert too_soon.outcome is Outcome.TOO_SOON and too_soon.retry_after == 15
    assert len(outbox.messages()) == 1
    assert send(demo, at=NOW + timedelta(seconds=60)).ok
    second = code_of(outbox.last())
    at = NOW + timedelta(seconds=61)
    if first != second:  # only the latest code counts
        assert verify(demo, first, at=at).outcome is Outcome.WRONG_CODE
    assert verify(demo, second, at=at).ok


def test_resend_keeps_the_wrong_entries(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    for i in range(3):
        verify(demo, wrong(code), at=NOW + timedelta(seconds=i))
    send(demo, at=NOW + timedelta(seconds=60))
    code = code_of(outbox.last())
    assert verify(demo, wrong(code), at=NOW + timedelta(seconds=61)).attempts_left == 1


def test_signing_code_may_follow_identification_within_a_minute(demo: Session, outbox: Outbox) -> None:
    assert send(demo).ok
    assert send(demo, purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(seconds=20)).ok


def test_at_most_five_sends_an_hour(demo: Session, outbox: Outbox) -> None:
    times = [NOW + timedelta(seconds=61 * i) for i in range(5)]
    assert all(send(demo, at=at).ok for at in times)
    sixth = send(demo, at=NOW + timedelta(seconds=61 * 5))
    assert sixth.outcome is Outcome.RATE_LIMITED
    assert sixth.retry_after == 3600 - 61 * 5
    assert send(demo, at=NOW + timedelta(seconds=3600 + 1)).ok
    assert len(outbox.messages()) == 6


def test_hourly_limit_counts_every_purpose_of_the_phone(demo: Session, outbox: Outbox) -> None:
    for i in range(5):
        purpose, change = (IDENTIFY, None) if i % 2 else (SIGN, NEW_CARD)
        assert send(demo, purpose=purpose, change=change, at=NOW + timedelta(seconds=61 * i)).ok
    assert send(demo, at=NOW + timedelta(minutes=10)).outcome is Outcome.RATE_LIMITED


def test_at_most_ten_sends_a_day(demo: Session, outbox: Outbox) -> None:
    times = [NOW + timedelta(minutes=61 * i) for i in range(10)]
    assert all(send(demo, at=at).ok for at in times)
    eleventh = send(demo, at=NOW + timedelta(minutes=61 * 10))
    assert eleventh.outcome is Outcome.RATE_LIMITED
    assert eleventh.retry_after == 24 * 3600 - 61 * 10 * 60
    assert send(demo, at=NOW + timedelta(days=1, seconds=1)).ok


def test_a_failed_send_counts_nothing(demo: Session, outbox: Outbox) -> None:
    class Broken:
        def send(self, to: str, text: str) -> None:
            raise ConnectionError("provider down")

    from bot.sms.gateway import SmsDeliveryError

    with pytest.raises(SmsDeliveryError) as raised:
        send_code(demo, merchant(demo, "822100000000001"), IDENTIFY, conversation_id=CONVERSATION,
                  gateway=Broken(), now=NOW)
    assert "13800000001" not in str(raised.value)
    assert demo.execute(select(VerificationChallenge)).first() is None
    assert send(demo, at=NOW + timedelta(seconds=1)).ok  # no 60 s wait after a failure


def test_limits_hold_across_sessions(demo: Session, engine, outbox: Outbox) -> None:
    from bot.db.engine import session_factory

    send(demo)
    with session_factory(engine)() as other:
        assert send(other, at=NOW + timedelta(seconds=5)).outcome is Outcome.TOO_SOON
        code = code_of(outbox.last())
        assert verify(other, code).ok
    assert verify(demo, code).outcome is Outcome.NO_CHALLENGE


# --- authenticator app ---------------------------------------------------------------------------



def enrol(session: Session, outbox: Outbox, at=NOW) -> str:
    send(session, at=at)
    assert verify(session, code_of(outbox.last()), at=at).ok
    enrolment = start_enrolment(session, merchant(session, "822100000000001"), conversation_id=CONVERSATION, now=at)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/")
    assert "822100000000001" in enrolment.provisioning_uri and "issuer=" in enrolment.provisioning_uri
    assert not enrolment.replaces_existing
    code = pyotp.TOTP(enrolment.secret).at(at)
    assert confirm_enrolment(session, merchant(session, "822100000000001"), code, now=at).ok
    return enrolment.secret


def test_enrolment_needs_a_verified_identification_in_the_conversation(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    with pytest.raises(NotVerified):
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW)
    send(demo)
    with pytest.raises(NotVerified):  # sent, not verified
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW)
    assert verify(demo, code_of(outbox.last())).ok
    with pytest.raises(NotVerified):  # another conversation
        start_enrolment(demo, owner, conversation_id="other", now=NOW)
    with pytest.raises(NotVerified):  # too long ago
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW + timedelta(minutes=31))
    assert start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW + timedelta(minutes=29)).secret


def test_enrolled_authenticator_signs_once_per_code(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    assert totp_enabled(demo, owner)
    notice = outbox.last()
    assert notice["to"] == "13800000001" and "已开启动态口令" in notice["text"]
    assert not SIX_DIGIT_RUN.search(notice["text"])
    stored = demo.execute(text("SELECT totp_secret FROM merchant_security")).scalar_one()
    assert secret not in stored  # encrypted at rest

    at = NOW + timedelta(minutes=2)
    code = pyotp.TOTP(secret).at(at)
    assert verify_totp(demo, owner, code, now=at).ok
    assert verify_totp(demo, owner, code, now=at).outcome is Outcome.EXPIRED  # used
    later = at + timedelta(seconds=30)
    assert verify_totp(demo, owner, pyotp.TOTP(secret).at(later), now=later).ok
    drift = later + timedelta(seconds=30)
    assert verify_totp(demo, owner, pyotp.TOTP(secret).at(drift + timedelta(seconds=30)), now=drift).ok


def test_wrong_authenticator_codes_lock_too(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=1)
    good = pyotp.TOTP(secret).at(at)
    results = [verify_totp(demo, owner, wrong(good), now=at) for _ in range(5)]
    assert [r.outcome for r in results] == [Outcome.WRONG_CODE] * 4 + [Outcome.LOCKED]
    assert verify_totp(demo, owner, good, now=at).outcome is Outcome.LOCKED
    state = demo.execute(select(MerchantSecurity)).scalar_one()
    assert state.locked_until == at + timedelta(minutes=30)


def test_authenticator_not_enabled_is_no_challenge(demo: Session) -> None:
    owner = merchant(demo, "822100000000001")
    assert not totp_enabled(demo, owner)
    assert verify_totp(demo, owner, "123456", now=NOW).outcome is Outcome.NO_CHALLENGE
    assert confirm_enrolment(demo, owner, "123456", now=NOW).outcome is Outcome.NO_CHALLENGE


def test_pending_purpose_tells_what_to_resend(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    assert pending_purpose(demo, owner, CONVERSATION) is None
    send(demo)
    assert pending_purpose(demo, owner, CONVERSATION) is IDENTIFY
    assert verify(demo, code_of(outbox.last())).ok
    assert pending_purpose(demo, owner, CONVERSATION) is None
    send(demo, purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(seconds=30))
    assert pending_purpose(demo, owner, CONVERSATION) is SIGN
    assert pending_purpose(demo, owner, "other") is None


def test_a_change_is_signed_with_the_sms_code_or_the_authenticator(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=2)
    send(demo, purpose=SIGN, change=NEW_CARD, at=at)
    sms_code = code_of(outbox.last())

    def sign(code: str, when=at):
        return verification.verify_signing_code(demo, owner, code, conversation_id=CONVERSATION, change=NEW_CARD,
                                                now=when)

    app_code = pyotp.TOTP(secret).at(at)
    assert sign(app_code).ok
    assert sign(app_code).outcome is Outcome.WRONG_CODE  # used once: now judged as an SMS code, and wrong
    assert sign(sms_code).ok  # the SMS code still works, once
    assert sign(sms_code).outcome is Outcome.NO_CHALLENGE
    methods = demo.execute(select(AuditEvent.detail).where(AuditEvent.action == "verification.verified")).scalars()
    assert [detail["method"] for detail in methods][-2:] == ["totp", "sms"]


def test_without_an_authenticator_only_the_sms_code_signs(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    send(demo, purpose=SIGN, change=NEW_CARD)
    result = verification.verify_signing_code(demo, owner, "000000", conversation_id=CONVERSATION, change=NEW_CARD,
                                              now=NOW)
    assert result.outcome is Outcome.WRONG_CODE and result.attempts_left == 4
