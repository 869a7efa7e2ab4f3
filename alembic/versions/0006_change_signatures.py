"""Signatures of changes: filing needs a signing code verified in the conversation for exactly the
details filed (issue 12, finding 1).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09

- `change_signatures`: one row per signing code verified (SMS or authenticator): merchant,
  conversation, an HMAC of the signed details keyed with the row's own (encrypted) secret, when it
  expires and when a filing used it up.

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "change_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("details_digest", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_change_signatures_merchant_id_merchants")),
        sa.ForeignKeyConstraint(["change_request_id"], ["change_requests.id"],
                                name=op.f("fk_change_signatures_change_request_id_change_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_signatures")),
    )
    op.create_index(op.f("ix_change_signatures_merchant_id"), "change_signatures", ["merchant_id"])
    op.create_index(op.f("ix_change_signatures_conversation_id"), "change_signatures", ["conversation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_change_signatures_conversation_id"), table_name="change_signatures")
    op.drop_index(op.f("ix_change_signatures_merchant_id"), table_name="change_signatures")
    op.drop_table("change_signatures")
