"""Owner keys: ``apikey.institution_id``, the institution whose profile an owner key may change.

Nullable, since existing keys speak for no institution. On SQLite the batch block copies the table (SQLite
cannot add a foreign key to an existing table); ``seed_data.migrations.upgrade`` turns foreign-key
enforcement off meanwhile, as the tables that refer to ``apikey`` would otherwise stop the copy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# the name PostgreSQL gives the constraint when create_all makes the table (as the releases before did)
FOREIGN_KEY = "apikey_institution_id_fkey"


def upgrade() -> None:
    with op.batch_alter_table("apikey") as batch:
        batch.add_column(sa.Column("institution_id", sa.String(length=80), nullable=True))
        batch.create_foreign_key(FOREIGN_KEY, "institution", ["institution_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("apikey") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch.drop_column("institution_id")
