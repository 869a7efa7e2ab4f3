"""The record a right signing code leaves (bot.codes.signatures): which merchant, conversation and
change details it signed, by which kind of code; never the card or ID number readably."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyotp
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.codes import verify_signing_code
from bot.codes.signatures import SIGNATURE_TTL, details_digest, use_signature
from bot.db.models import ChangeSignature

from codes.helpers import CONVERSATION, NEW_CARD, SIGN, code_of, enrol, send, wrong
from domain_fixtures import NOW, Outbox, merchant


def signatures(session: Session) -> list[ChangeSignature]:
    session.expire_all()
    return list(session.execute(select(ChangeSignature).order_by(ChangeSignature.id)).scalars())


def test_a_right_sms_code_records_the_signature_of_exactly_these_details(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    send(demo, purpose=SIGN, change=NEW_CARD)
    code = code_of(outbox.last())
    assert verify_signing_code(demo, owner, wrong(code), conversation_id=CONVERSATION, change=NEW_CARD,
                               now=NOW).outcome.value == "wrong_code"
    assert signatures(demo) == []  # a wrong code signs nothing
    assert verify_signing_code(demo, owner, code, conversation_id=CONVERSATION, change=NEW_CARD, now=NOW).ok
    [signature] = signatures(demo)
    assert (signature.merchant_id, signature.conversation_id, signature.method) == (owner.id, CONVERSATION, "sms")
    assert signature.used_at is None and signature.change_request_id is None
    assert signature.expires_at == NOW + SIGNATURE_TTL
    assert signature.details_digest == details_digest(signature.secret, CONVERSATION, NEW_CARD)
    assert signature.details_digest != details_digest(signature.secret, CONVERSATION,
                                                      replace(NEW_CARD, account_number="6222021000000000132"))
    stored = repr(demo.execute(text("SELECT * FROM change_signatures")).all())
    assert NEW_CARD.account_number not in stored and NEW_CARD.holder_id_number not in stored
    assert signature.secret not in stored  # the row's key is encrypted at rest


def test_the_authenticator_signs_too(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox, at=NOW - timedelta(days=1))  # a day old: it may sign
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=2)
    assert verify_signing_code(demo, owner, pyotp.TOTP(secret).at(at), conversation_id=CONVERSATION,
                               change=NEW_CARD, now=at).ok
    [signature] = signatures(demo)
    assert signature.method == "totp" and signature.conversation_id == CONVERSATION


def test_a_signature_is_found_once_and_only_for_its_merchant_conversation_and_details(demo: Session,
                                                                                      outbox: Outbox) -> None:
    owner, other = merchant(demo, "822100000000001"), merchant(demo, "822100000000006")
    send(demo, purpose=SIGN, change=NEW_CARD)
    assert verify_signing_code(demo, owner, code_of(outbox.last()), conversation_id=CONVERSATION,
                               change=NEW_CARD, now=NOW).ok
    later = NOW + timedelta(minutes=1)
    assert use_signature(demo, owner.id, CONVERSATION, replace(NEW_CARD, account_name="王芳"), later) is None
    assert use_signature(demo, owner.id, "another-conversation", NEW_CARD, later) is None
    assert use_signature(demo, other.id, CONVERSATION, NEW_CARD, later) is None
    assert use_signature(demo, owner.id, None, NEW_CARD, later) is None
    assert use_signature(demo, owner.id, CONVERSATION, NEW_CARD, NOW + SIGNATURE_TTL) is None  # expired
    found = use_signature(demo, owner.id, CONVERSATION, NEW_CARD, later)
    assert found is not None and found.used_at == later
    assert use_signature(demo, owner.id, CONVERSATION, NEW_CARD, later) is None  # used up
