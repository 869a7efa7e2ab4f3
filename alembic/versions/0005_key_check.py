"""The data key's check value.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

- `key_checks`: a known value encrypted with the data key when the database was set up (`bot db
  upgrade`, or the first production start); `BOT_ENV=production bot serve` decrypts it before
  starting, so a missing, new or wrong `BOT_DATA_KEY` stops it instead of making every encrypted
  row unreadable (bot.db.key_check).

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )


def downgrade() -> None:
    op.drop_table("key_checks")
