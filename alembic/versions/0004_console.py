"""The agent console: staff accounts and sessions, the messages of handed-off conversations, and
the reviewer's decision on a change request.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- `staff_accounts`: agents, reviewers and trainers (argon2 password hashes, lock-out counters).
- `staff_sessions`: console sessions by the SHA-256 of their cookie token, ended at logout.
- `handoff_messages`: what the merchant, the agent (replies and internal notes) said after a handoff.
- `outbound_messages`: messages for a merchant's channel that no Rasa turn produced (agent replies,
  the bot after a hand-back, review decisions), delivered once by the channel.
- `change_requests.decided_by`, `decided_at`, `decision_reason`: the reviewer's decision.

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.String(length=50), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.CheckConstraint("role IN ('agent', 'reviewer', 'trainer')", name=op.f("ck_staff_accounts_role")),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_accounts_username")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["staff_accounts.id"], name=op.f("fk_staff_sessions_account_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(op.f("ix_staff_sessions_account_id"), "staff_sessions", ["account_id"])
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=50), nullable=True),
        sa.Column("author_name", sa.String(length=50), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_handoff_messages_handoff_id_handoffs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_messages")),
    )
    op.create_index(op.f("ix_handoff_messages_handoff_id"), "handoff_messages", ["handoff_id"])
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_name", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
    )
    op.create_index(op.f("ix_outbound_messages_conversation_id"), "outbound_messages", ["conversation_id"])
    op.create_index(op.f("ix_outbound_messages_channel"), "outbound_messages", ["channel"])
    with op.batch_alter_table("change_requests") as batch:
        batch.add_column(sa.Column("decided_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_reason", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_requests") as batch:
        batch.drop_column("decision_reason")
        batch.drop_column("decided_at")
        batch.drop_column("decided_by")
    op.drop_index(op.f("ix_outbound_messages_channel"), table_name="outbound_messages")
    op.drop_index(op.f("ix_outbound_messages_conversation_id"), table_name="outbound_messages")
    op.drop_table("outbound_messages")
    op.drop_index(op.f("ix_handoff_messages_handoff_id"), table_name="handoff_messages")
    op.drop_table("handoff_messages")
    op.drop_index(op.f("ix_staff_sessions_account_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
