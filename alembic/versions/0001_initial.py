"""Initial schema: merchants, terminals, settlement accounts, change requests, handoffs, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Encrypted columns are TEXT (Fernet tokens); status columns are VARCHAR with a CHECK listing the
values of the enums in bot/db/models.py. Must match the models exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "merchants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_number", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("business_name", sa.String(length=100), nullable=True),
        sa.Column("license_code", sa.String(length=18), nullable=True),
        sa.Column("legal_person_name", sa.String(length=50), nullable=False),
        sa.Column("holder_id_number", sa.Text(), nullable=False),
        sa.Column("holder_id_last4", sa.String(length=4), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('micro', 'sole_trader', 'company')", name=op.f("ck_merchants_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("merchant_number", name=op.f("uq_merchants_merchant_number")),
    )

    op.create_table(
        "terminals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("serial_number", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f("ck_terminals_status")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_terminals_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminals")),
        sa.UniqueConstraint("serial_number", name=op.f("uq_terminals_serial_number")),
    )
    op.create_index(op.f("ix_terminals_merchant_id"), "terminals", ["merchant_id"])

    op.create_table(
        "settlement_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("bank_name", sa.String(length=50), nullable=False),
        sa.Column("account_kind", sa.String(length=20), nullable=False),
        sa.Column("account_number", sa.Text(), nullable=False),
        sa.Column("account_last4", sa.String(length=4), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "account_kind IN ('debit_card', 'corporate_account')",
            name=op.f("ck_settlement_accounts_account_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_settlement_accounts_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_accounts")),
    )
    op.create_index(op.f("ix_settlement_accounts_merchant_id"), "settlement_accounts", ["merchant_id"])

    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("bank_name", sa.String(length=50), nullable=False),
        sa.Column("account_number", sa.Text(), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("account_name", sa.String(length=100), nullable=False),
        sa.Column("holder_id_number", sa.Text(), nullable=True),
        sa.Column("holder_id_last4", sa.String(length=4), nullable=True),
        sa.Column("opening_branch", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=True),
        sa.Column("needs_manual_review", sa.Boolean(), nullable=False),
        sa.Column("review_notes", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('awaiting_documents', 'under_review', 'approved', 'rejected', 'completed',"
            " 'cancelled', 'escalated')",
            name=op.f("ck_change_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_change_requests_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_requests")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_change_requests_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_change_requests_reference")),
    )
    op.create_index(op.f("ix_change_requests_merchant_id"), "change_requests", ["merchant_id"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('waiting', 'active', 'resolved')", name=op.f("ck_handoffs_status")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_handoffs_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_conversation_id"), "handoffs", ["conversation_id"])
    op.create_index(op.f("ix_handoffs_merchant_id"), "handoffs", ["merchant_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_request_id"],
            ["change_requests.id"],
            name=op.f("fk_audit_events_change_request_id_change_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_audit_events_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_change_request_id"), "audit_events", ["change_request_id"])
    op.create_index(op.f("ix_audit_events_merchant_id"), "audit_events", ["merchant_id"])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in ("audit_events", "handoffs", "change_requests", "settlement_accounts", "terminals", "merchants"):
        op.drop_table(table)
