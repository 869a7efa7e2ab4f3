"""Uploaded documents and the WeChat channel's shared state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

- `uploaded_documents`: photos and scans sent through web chat or WeChat (files encrypted under
  var/uploads/), attached to the conversation's change request.
- `wechat_inbound_messages`: one row per pushed message or event, unique by MsgId (events: sender
  and CreateTime), so WeChat's retries and replays are processed once across all workers.
- `wechat_access_tokens`: the access token cached once for all workers (encrypted).
- `wechat_bindings`: the OpenID of a follower who identified as a merchant.

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "uploaded_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=True),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_request_id"], ["change_requests.id"],
            name=op.f("fk_uploaded_documents_change_request_id_change_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_uploaded_documents_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_documents")),
        sa.UniqueConstraint("public_id", name=op.f("uq_uploaded_documents_public_id")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_uploaded_documents_stored_name")),
    )
    op.create_index(op.f("ix_uploaded_documents_conversation_id"), "uploaded_documents", ["conversation_id"])
    op.create_index(op.f("ix_uploaded_documents_merchant_id"), "uploaded_documents", ["merchant_id"])
    op.create_index(op.f("ix_uploaded_documents_change_request_id"), "uploaded_documents", ["change_request_id"])

    op.create_table(
        "wechat_inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("msg_type", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_inbound_messages")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_wechat_inbound_messages_dedup_key")),
    )
    op.create_index(op.f("ix_wechat_inbound_messages_openid"), "wechat_inbound_messages", ["openid"])

    op.create_table(
        "wechat_access_tokens",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_wechat_access_tokens")),
    )

    op.create_table(
        "wechat_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_wechat_bindings_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_bindings")),
        sa.UniqueConstraint("openid", name=op.f("uq_wechat_bindings_openid")),
    )
    op.create_index(op.f("ix_wechat_bindings_merchant_id"), "wechat_bindings", ["merchant_id"])


def downgrade() -> None:
    op.drop_table("wechat_bindings")
    op.drop_table("wechat_access_tokens")
    op.drop_table("wechat_inbound_messages")
    op.drop_table("uploaded_documents")
