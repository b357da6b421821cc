"""Projects' CORDIS funding scheme (HORIZON-RIA, HORIZON-CSA, HORIZON-TMA-MSCA-DN, ...): the action type the
evaluation breaks its figures down by and the learned ranker reads.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("project", sa.Column("funding_scheme", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.drop_column("funding_scheme")
