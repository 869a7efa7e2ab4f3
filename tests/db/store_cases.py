"""Store tests that must hold on every supported database.

Not collected by itself (no `test_` prefix): `test_store_sqlite.py` and `test_store_postgres.py`
subclass `StoreCases` and provide the `db_url` fixture for their backend.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from bot.db.models import (
    AccountKind,
    AuditEvent,
    ChangeRequest,
    Handoff,
    HandoffStatus,
    Merchant,
    MerchantKind,
    RequestStatus,
    SettlementAccount,
    Terminal,
    TerminalStatus,
    audit,
    metadata,
    new_reference,
)
from bot.ops.demo import BANK_NAMES, DEMO_MERCHANTS, OVERDUE_NEW_CARD, seed
from bot.agents.views import list_handoffs, list_requests
from bot.workdays import LOCAL_TZ, add_working_days, local_now, utcnow, working_days_between

DEMO_SECRETS = [d.account_number for d in DEMO_MERCHANTS] + [d.id_number for d in DEMO_MERCHANTS] + [OVERDUE_NEW_CARD]
LOCAL_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
REFERENCE = re.compile(r"^CR\d{8}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$")
TABLES = ("merchants", "terminals", "settlement_accounts", "change_requests", "handoffs", "audit_events")


def merchant(session: Session, number: str) -> Merchant:
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one()


def file_request(session: Session, owner: Merchant, created_days_ago: int, **values) -> ChangeRequest:
    created = utcnow() - timedelta(days=created_days_ago)
    request = ChangeRequest(
        reference=new_reference(created),
        merchant=owner,
        status=values.pop("status", RequestStatus.AWAITING_DOCUMENTS),
        reason="原卡丢失",
        bank_code="ICBC",
        bank_name=BANK_NAMES["ICBC"],
        account_number="6222021000000000124",
        account_name=owner.legal_person_name,
        channel="rest",
        created_at=created,
        updated_at=created,
        due_at=add_working_days(created, 3),
        **values,
    )
    session.add(request)
    session.flush()
    return request


def snapshot(session: Session) -> dict[str, list[tuple]]:
    """Every stored row as the database holds it (ciphertexts included)."""
    return {table: [tuple(row) for row in session.execute(text(f"SELECT * FROM {table} ORDER BY id"))] for table in TABLES}


class StoreCases:
    def test_migration_matches_models(self, engine: Engine) -> None:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []

    def test_seed_creates_the_demo_merchants(self, session: Session) -> None:
        summary = seed(session)
        session.commit()
        assert (summary.merchants_created, summary.merchants_total, summary.requests_created) == (9, 9, 1)
        for demo in DEMO_MERCHANTS:
            found = merchant(session, demo.number)
            assert found.kind is demo.kind
            assert found.legal_person_name == demo.name
            assert found.holder_id_number == demo.id_number  # decrypted on the way back
            assert found.holder_id_last4 == demo.id_number[-4:]
            assert found.phone == demo.phone
            account = found.current_account
            assert account is not None and account.bank_code == demo.bank_code
            assert account.bank_name == BANK_NAMES[demo.bank_code]
            assert account.account_number == demo.account_number
            assert account.account_last4 == demo.account_number[-4:]
            [terminal] = found.terminals
            expected = TerminalStatus.INACTIVE if demo.number == "822100000000005" else TerminalStatus.ACTIVE
            assert terminal.status is expected
            assert (terminal.activated_at is None) == (expected is TerminalStatus.INACTIVE)

        sole, company = merchant(session, "822100000000002"), merchant(session, "822100000000003")
        assert (sole.kind, sole.business_name, sole.license_code) == (
            MerchantKind.SOLE_TRADER, "李娜便利店", "92310115MA1K3B4C59")
        assert (company.kind, company.business_name, company.license_code) == (
            MerchantKind.COMPANY, "上海示例科技有限公司", "91310110666007217T")
        assert company.current_account.account_kind is AccountKind.CORPORATE_ACCOUNT
        assert company.current_account.holder_name == "上海示例科技有限公司"
        assert merchant(session, "822100000000001").license_code is None

    def test_seed_twice_changes_nothing(self, session: Session) -> None:
        seed(session)
        session.commit()
        before = snapshot(session)
        summary = seed(session)
        session.commit()
        assert (summary.merchants_created, summary.requests_created) == (0, 0)
        assert snapshot(session) == before

    def test_seed_leaves_existing_merchants_alone(self, session: Session) -> None:
        seed(session)
        session.commit()
        zhao = merchant(session, "822100000000004")
        zhao.change_requests[0].status = RequestStatus.COMPLETED
        session.commit()
        assert seed(session).requests_created == 0
        session.commit()
        assert session.execute(select(func.count(ChangeRequest.id))).scalar_one() == 1

    def test_merchant_4_has_one_overdue_request(self, session: Session) -> None:
        seed(session)
        session.commit()
        zhao = merchant(session, "822100000000004")
        [request] = zhao.change_requests
        assert request.status is RequestStatus.UNDER_REVIEW and request.is_open
        assert REFERENCE.match(request.reference)
        assert working_days_between(request.created_at, local_now()) == 6
        assert working_days_between(request.created_at, request.due_at) == 3
        assert request.is_overdue()
        assert request.account_name == "赵敏"
        assert request.bank_code == "ICBC" and request.bank_name == "中国工商银行"
        assert request.account_number == "6222021000000000124" != zhao.current_account.account_number
        assert request.card_last4 == "0124"
        [row] = list_requests(session, "822100000000004")
        assert row["overdue"] is True and row["status"] == "under_review"
        event = session.execute(select(AuditEvent)).scalar_one()
        assert (event.action, event.change_request_id, event.merchant_id) == (
            "change_request.filed", request.id, zhao.id)

    def test_numbers_are_stored_encrypted(self, session: Session) -> None:
        seed(session)
        session.commit()
        stored = [
            value
            for table, column in [
                ("merchants", "holder_id_number"),
                ("settlement_accounts", "account_number"),
                ("change_requests", "account_number"),
                ("change_requests", "holder_id_number"),
            ]
            for (value,) in session.execute(text(f"SELECT {column} FROM {table}"))
        ]
        assert len(stored) == 20
        assert all(value.startswith("gAAAA") for value in stored)  # Fernet tokens
        everything = json.dumps(snapshot(session), default=str, ensure_ascii=False)
        assert not [secret for secret in DEMO_SECRETS if secret in everything]

    def test_list_requests_newest_first_with_masked_fields(self, session: Session) -> None:
        seed(session)
        zhang, liu = merchant(session, "822100000000001"), merchant(session, "822100000000006")
        older = file_request(session, zhang, created_days_ago=2, status=RequestStatus.REJECTED)
        newer = file_request(session, liu, created_days_ago=0, holder_id_number="420106198709093215")
        session.commit()

        rows = list_requests(session)
        assert [row["reference"] for row in rows][:2] == [newer.reference, older.reference]
        assert rows[-1]["merchant_id"] == "822100000000004"  # the demo request, 6 working days old
        for row in rows:
            for key in ("reference", "merchant_id", "status", "bank", "card_last4", "account_name",
                        "reason", "created_at", "updated_at", "due_at"):
                assert row[key], key
            assert row["status"] in {status.value for status in RequestStatus}
            assert LOCAL_ISO.match(row["created_at"]) and LOCAL_ISO.match(row["due_at"])
            assert re.fullmatch(r"\d{4}", row["card_last4"])
        assert rows[0]["merchant_id"] == "822100000000006"
        assert rows[0]["bank"] == "中国工商银行" and rows[0]["holder_id_last4"] == "3215"
        dumped = json.dumps(rows, ensure_ascii=False)
        assert not [secret for secret in DEMO_SECRETS if secret in dumped]

        assert [row["reference"] for row in list_requests(session, "822100000000001")] == [older.reference]
        assert list_requests(session, "822100000000009") == []
        assert list_requests(session, "999999999999999") == []

    def test_list_handoffs_newest_first(self, session: Session) -> None:
        seed(session)
        zhang = merchant(session, "822100000000001")
        now = utcnow()
        session.add_all([
            Handoff(conversation_id="c-old", channel="wechat", reason="complain", created_at=now - timedelta(hours=1),
                    updated_at=now - timedelta(hours=1)),
            Handoff(conversation_id="c-new", channel="rest", reason="request_human", merchant=zhang,
                    status=HandoffStatus.ACTIVE, agent="小王", context={"card_number": "****0124", "transcript": []}),
        ])
        session.commit()
        rows = list_handoffs(session)
        assert [row["conversation_id"] for row in rows] == ["c-new", "c-old"]
        assert rows[0]["status"] == "active" and rows[0]["merchant_id"] == "822100000000001"
        assert rows[1]["status"] == "waiting" and rows[1]["merchant_id"] is None
        for row in rows:
            assert {"id", "conversation_id", "channel", "reason", "status", "created_at"} <= row.keys()
            assert LOCAL_ISO.match(row["created_at"])
        assert "context" not in rows[0]
        assert list_handoffs(session, include_context=True)[0]["context"]["card_number"] == "****0124"

    def test_timestamps_come_back_aware_utc(self, session: Session) -> None:
        seed(session)
        session.commit()
        session.expire_all()
        request = session.execute(select(ChangeRequest)).scalar_one()
        for value in (request.created_at, request.updated_at, request.due_at):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert request.created_at.astimezone(LOCAL_TZ).hour == 10

    def test_naive_datetimes_are_refused(self, session: Session) -> None:
        seed(session)
        request = session.execute(select(ChangeRequest)).scalar_one()
        request.due_at = request.due_at.replace(tzinfo=None)
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()

    def test_updated_at_follows_changes(self, session: Session) -> None:
        seed(session)
        session.commit()
        request = session.execute(select(ChangeRequest)).scalar_one()
        before = request.updated_at
        request.status = RequestStatus.ESCALATED
        session.commit()
        assert request.updated_at > before

    def test_unknown_status_is_refused_in_python_and_in_the_database(self, session: Session) -> None:
        seed(session)
        session.commit()
        request = session.execute(select(ChangeRequest)).scalar_one()
        request.status = "lost"
        with pytest.raises(StatementError):
            session.flush()
        session.rollback()
        with pytest.raises(IntegrityError):
            session.execute(text("UPDATE change_requests SET status = 'lost'"))
            session.flush()
        session.rollback()

    def test_foreign_keys_are_enforced(self, session: Session) -> None:
        session.add(Terminal(merchant_id=9999, serial_number="POS999999", status=TerminalStatus.ACTIVE))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()

    def test_references_and_idempotency_keys_are_unique(self, session: Session) -> None:
        seed(session)
        zhang = merchant(session, "822100000000001")
        first = file_request(session, zhang, 0, idempotency_key="conv-1:abc")
        session.commit()
        with pytest.raises(IntegrityError):
            file_request(session, zhang, 0, idempotency_key="conv-1:abc")
        session.rollback()
        duplicate = file_request(session, zhang, 0)
        duplicate.reference = first.reference
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()

    def test_audit_masks_numbers_in_details(self, session: Session) -> None:
        seed(session)
        zhang = merchant(session, "822100000000001")
        event = audit(session, "bot", "card.refused", merchant=zhang,
                      note="卡号 6222021000000000125 未通过校验", inputs=["6222 0210 0000 0000 124"], tries=2)
        session.commit()
        session.expire_all()
        stored = session.get(AuditEvent, event.id)
        assert stored.detail == {"note": "卡号 ****0125 未通过校验", "inputs": ["****0124"], "tries": 2}
        assert stored.merchant_id == zhang.id and stored.occurred_at.tzinfo is not None

    def test_current_account_is_the_flagged_one(self, session: Session) -> None:
        seed(session)
        zhang = merchant(session, "822100000000001")
        old = zhang.current_account
        old.is_current = False
        zhang.accounts.append(SettlementAccount(bank_code="ICBC", bank_name="中国工商银行",
                                                account_kind=AccountKind.DEBIT_CARD,
                                                account_number="6222021000000000124", holder_name="张伟",
                                                is_current=True))
        session.commit()
        assert zhang.current_account.account_last4 == "0124"
        assert zhang.current_account.created_at.tzinfo == timezone.utc
