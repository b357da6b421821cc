"""Learned rankers as weight-profile versions: a version's kind ("weights" or "learned") and, for a learned one,
the model text (LightGBM) it scores with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN (SQLite has it): a batch copy of the table would drop its constraints
    op.add_column("weightprofileversion", sa.Column("kind", sa.String(length=20), nullable=False,
                                                    server_default="weights"))
    op.add_column("weightprofileversion", sa.Column("model", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("weightprofileversion") as batch:
        batch.drop_column("model")
        batch.drop_column("kind")
