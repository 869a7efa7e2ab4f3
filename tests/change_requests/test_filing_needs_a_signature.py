"""Filing needs the server's record of the signature (issue 12, finding 1): a signing code verified
in this conversation for exactly these details, unused, used up by the filing in its transaction.
Whatever a caller claims (the slots of a forged action call), without it nothing is filed."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.change_requests.filing import (
    ChangeDetails, FilingRefused, NotSigned, cancel_request, file_change_request, new_idempotency_key,
)
from bot.change_requests.prechecks import PrecheckReason
from bot.codes.signatures import SIGNATURE_TTL
from bot.db.models import AuditEvent, ChangeRequest, ChangeSignature

from domain_fixtures import NOW, Outbox, merchant, signed

CONVERSATION = "conv-signed"
DETAILS = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                        account_number="6222021000000000124", account_name="张伟",
                        holder_id_number="310101198503171233", opening_branch="上海分行营业部")


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def file(session: Session, number: str = "822100000000001", details: ChangeDetails = DETAILS,
         conversation: str = CONVERSATION, key: str | None = None, at=NOW):
    return file_change_request(session, merchant(session, number), details, key or new_idempotency_key(), "rest",
                               conversation, now=at)


def requests_filed(session: Session) -> int:
    """Requests filed in the tests' conversations (the demo data holds one of its own)."""
    session.expire_all()
    return session.execute(select(func.count(ChangeRequest.id)).where(ChangeRequest.channel == "rest",
                                                                      ChangeRequest.created_at == NOW)).scalar_one()


def the_signature(session: Session) -> ChangeSignature:
    session.expire_all()
    return session.execute(select(ChangeSignature)).scalar_one()


def nothing_filed(session: Session, outbox: Outbox) -> bool:
    audited = session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.action == "change_request.filed",
                                                                      AuditEvent.occurred_at == NOW))
    return requests_filed(session) == 0 and outbox.messages() == [] and audited.scalar_one() == 0


def test_without_a_signature_nothing_is_filed(demo: Session, outbox: Outbox) -> None:
    with pytest.raises(NotSigned):
        file(demo)
    assert nothing_filed(demo, outbox)


def test_a_signature_files_once_and_names_the_request(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000001", CONVERSATION, DETAILS, NOW)
    filed = file(demo)
    signature = the_signature(demo)
    assert signature.used_at == NOW and signature.change_request_id == filed.request.id
    cancel_request(demo, merchant(demo, "822100000000001"), filed.reference, now=NOW)  # the pre-checks would pass
    with pytest.raises(NotSigned):
        file(demo, at=NOW + timedelta(minutes=1))
    assert requests_filed(demo) == 1


def test_the_replay_of_a_filed_key_returns_its_request(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000001", CONVERSATION, DETAILS, NOW)
    key = new_idempotency_key()
    first = file(demo, key=key)
    again = file(demo, key=key, at=NOW + timedelta(seconds=5))  # the signature is used: a replay needs none
    assert first.created and not again.created and again.reference == first.reference
    assert requests_filed(demo) == 1 and len(outbox.messages()) == 1


def test_a_signature_of_other_details_files_nothing_and_stays(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000001", CONVERSATION, DETAILS, NOW)
    for changed in (replace(DETAILS, account_number="6222021000000000132"), replace(DETAILS, account_name="王芳"),
                    replace(DETAILS, holder_id_number="440103199008224568"),
                    replace(DETAILS, opening_branch="工商银行北京分行"), replace(DETAILS, reason="其他原因")):
        with pytest.raises(NotSigned):
            file(demo, details=changed)
    assert nothing_filed(demo, outbox) and the_signature(demo).used_at is None
    assert file(demo).created  # the details that were signed still file


def test_a_signature_of_another_conversation_or_merchant_files_nothing(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000001", CONVERSATION, DETAILS, NOW)
    with pytest.raises(NotSigned):
        file(demo, conversation="another-conversation")
    with pytest.raises(NotSigned):
        file(demo, "822100000000006")
    assert nothing_filed(demo, outbox) and the_signature(demo).used_at is None


def test_an_expired_signature_files_nothing(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000001", CONVERSATION, DETAILS, NOW)
    with pytest.raises(NotSigned):
        file(demo, at=NOW + SIGNATURE_TTL)
    assert nothing_filed(demo, outbox)


def test_a_refused_filing_leaves_the_signature_unused(demo: Session, outbox: Outbox) -> None:
    signed(demo, "822100000000005", CONVERSATION, DETAILS, NOW)  # terminal inactive
    with pytest.raises(FilingRefused) as refused:
        file(demo, "822100000000005")
    assert refused.value.reason is PrecheckReason.TERMINAL_INACTIVE
    assert the_signature(demo).used_at is None


def test_an_unsigned_call_learns_nothing_of_the_merchant(demo: Session) -> None:
    # 822100000000004 has an open request: signed, the pre-checks say so; unsigned, only NotSigned.
    with pytest.raises(NotSigned):
        file(demo, "822100000000004")
