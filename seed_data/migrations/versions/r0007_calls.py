"""Call topics: the open and forthcoming EU calls of the Funding & Tenders portal (``call_topic``), loaded from
the shipped ``calls.jsonl.gz``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXED = ("action_type", "cluster", "deadline", "programme_key")


def upgrade() -> None:
    op.create_table(
        "call_topic",
        sa.Column("topic_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("programme", sa.String(length=200), nullable=False),
        sa.Column("programme_key", sa.String(length=40), nullable=True),
        sa.Column("cluster", sa.String(length=40), nullable=True),
        sa.Column("call_identifier", sa.String(length=100), nullable=True),
        sa.Column("call_title", sa.String(length=1000), nullable=True),
        sa.Column("action_type", sa.String(length=10), nullable=False),
        sa.Column("types_of_action", sa.String(length=200), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("deadline_model", sa.String(length=40), nullable=True),
        sa.Column("portal_status", sa.String(length=20), nullable=True),
        sa.Column("budget_min", sa.Float(), nullable=True),
        sa.Column("budget_max", sa.Float(), nullable=True),
        sa.Column("expected_grants", sa.Integer(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("conditions", sa.String(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("topic_id"),
    )
    for column in _INDEXED:
        op.create_index(f"ix_call_topic_{column}", "call_topic", [column], unique=False)


def downgrade() -> None:
    for column in reversed(_INDEXED):
        op.drop_index(f"ix_call_topic_{column}", table_name="call_topic")
    op.drop_table("call_topic")
