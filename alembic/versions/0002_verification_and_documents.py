"""One-time-code challenges, per-merchant verification state, missing documents of a request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

- `verification_challenges`: one row per code sent by SMS (bot.codes.sms_codes); the HOTP secret is
  encrypted (TEXT), the code itself is never stored.
- `merchant_security`: lock-out after wrong codes and the optional authenticator (TOTP) enrolment.
- `change_requests.missing_documents`: JSON list of the document codes still to send (nullable:
  rows filed before this revision have none recorded).

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "verification_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("context_digest", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('identify', 'sign_change')", name=op.f("ck_verification_challenges_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_verification_challenges_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_challenges")),
    )
    op.create_index(op.f("ix_verification_challenges_merchant_id"), "verification_challenges", ["merchant_id"])
    op.create_index(op.f("ix_verification_challenges_phone"), "verification_challenges", ["phone"])

    op.create_table(
        "merchant_security",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("totp_pending_secret", sa.Text(), nullable=True),
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("totp_failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_merchant_security_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_security")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_merchant_security_merchant_id")),
    )

    # Adding a nullable column is a plain ALTER TABLE on SQLite too: batch mode does not rebuild.
    with op.batch_alter_table("change_requests") as batch:
        batch.add_column(sa.Column("missing_documents", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_requests") as batch:
        batch.drop_column("missing_documents")
    op.drop_table("merchant_security")
    op.drop_table("verification_challenges")
