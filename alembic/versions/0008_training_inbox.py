"""The trainer inbox (issue 13): what trainers decided about the real messages it shows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10

- `training_inbox_decisions`: one row per group of messages a trainer dismissed or labelled with an
  intent (bot.training.inbox), keyed by the group's key (a digest of its normalised, redacted text;
  no message text is stored). The messages themselves stay in the tracker store.

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "training_inbox_decisions",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.CheckConstraint("decision IN ('dismissed', 'labelled')",
                           name=op.f("ck_training_inbox_decisions_decision")),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_training_inbox_decisions")),
    )


def downgrade() -> None:
    op.drop_table("training_inbox_decisions")
