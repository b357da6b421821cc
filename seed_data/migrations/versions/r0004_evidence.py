"""Evidence items and partnerships: typed research evidence besides the CORDIS projects, known partnerships
as network edges, and each institution's evidence level.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("institution") as batch:
        batch.add_column(sa.Column("evidence_level", sa.String(length=20), nullable=False, server_default="none"))
        batch.create_index("ix_institution_evidence_level", ["evidence_level"])
    op.create_table(
        "evidence_item",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("institution_id", sa.String(length=80), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=2000), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["apikey.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_item_institution_id", "evidence_item", ["institution_id"])
    op.create_index("ix_evidence_item_type", "evidence_item", ["type"])
    op.create_index("ix_evidence_item_origin", "evidence_item", ["origin"])
    op.create_table(
        "partnership",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("institution_id", sa.String(length=80), nullable=False),
        sa.Column("partner_id", sa.String(length=80), nullable=True),
        sa.Column("partner_name", sa.String(length=500), nullable=False),
        sa.Column("partner_country", sa.String(length=2), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["apikey.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_partnership_institution_id", "partnership", ["institution_id"])
    op.create_index("ix_partnership_partner_id", "partnership", ["partner_id"])
    op.create_index("ix_partnership_origin", "partnership", ["origin"])


def downgrade() -> None:
    op.drop_table("partnership")
    op.drop_table("evidence_item")
    with op.batch_alter_table("institution") as batch:
        batch.drop_index("ix_institution_evidence_level")
        batch.drop_column("evidence_level")
