"""One-time codes after the security review (issue 12, findings 2 and 4): one count of wrong codes per
merchant whatever their kind, a purpose for enrolment codes, and the limits on who asks for codes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09

- `merchant_security.totp_failures` becomes `wrong_codes`: wrong codes in a row of every kind (SMS
  signing codes, authenticator codes), not only the authenticator's (bot.codes.lockout).
- `verification_challenges.purpose` may be `enrol`: the fresh SMS code that enrolling an
  authenticator needs (bot.codes.authenticator).
- `code_limit_events`: what the per-conversation, per-address and per-merchant-number limits count
  (code requests, wrong codes of a conversation), by the SHA-256 of the key (bot.codes.throttle).

Must match bot/db/models.py exactly: tests/db compares them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PURPOSES = "purpose IN ('identify', 'sign_change', 'enrol')"
OLD_PURPOSES = "purpose IN ('identify', 'sign_change')"


def upgrade() -> None:
    with op.batch_alter_table("merchant_security") as batch:
        batch.alter_column("totp_failures", new_column_name="wrong_codes", existing_type=sa.Integer(),
                           existing_nullable=False)
    with op.batch_alter_table("verification_challenges") as batch:
        batch.drop_constraint(op.f("ck_verification_challenges_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_verification_challenges_purpose"), PURPOSES)
    op.create_table(
        "code_limit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_limit_events")),
    )
    op.create_index("ix_code_limit_events_lookup", "code_limit_events", ["kind", "key_digest", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_code_limit_events_lookup", table_name="code_limit_events")
    op.drop_table("code_limit_events")
    op.execute("DELETE FROM verification_challenges WHERE purpose = 'enrol'")
    with op.batch_alter_table("verification_challenges") as batch:
        batch.drop_constraint(op.f("ck_verification_challenges_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_verification_challenges_purpose"), OLD_PURPOSES)
    with op.batch_alter_table("merchant_security") as batch:
        batch.alter_column("wrong_codes", new_column_name="totp_failures", existing_type=sa.Integer(),
                           existing_nullable=False)
