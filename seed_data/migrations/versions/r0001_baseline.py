"""Baseline: every table as the releases before migrations created them (``create_all``), before owner keys.

A database those releases made is stamped with this revision by ``seed_data.migrations.upgrade`` (when its
``apikey`` table has no ``institution_id``) instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INSTITUTION_KIND = sa.Enum("university", "research", "company", "public", "other", name="institutionkind")
PARTICIPATION_ROLE = sa.Enum("coordinator", "participant", "associated_partner", "third_party",
                             name="participationrole")


def upgrade() -> None:
    op.create_table(
        "embedding_model",
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "embedding_vector",
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "text_hash"),
    )
    op.create_table(
        "institution",
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("legal_name", sa.String(length=500), nullable=True),
        sa.Column("short_name", sa.String(length=200), nullable=True),
        sa.Column("native_name", sa.String(length=500), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("kind", INSTITUTION_KIND, nullable=False),
        sa.Column("ror_id", sa.String(length=9), nullable=True),
        sa.Column("pic", sa.String(length=9), nullable=True),
        sa.Column("erasmus_code", sa.String(length=20), nullable=True),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("n_projects", sa.Integer(), nullable=False),
        sa.Column("has_research_evidence", sa.Boolean(), nullable=False),
        sa.Column("profile_derived", sa.String(), nullable=False),
        sa.Column("profile_owner", sa.String(), nullable=True),
        sa.Column("profile_owner_updated", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("country", "erasmus_code", "has_research_evidence", "kind", "pic", "ror_id"):
        op.create_index(f"ix_institution_{column}", "institution", [column], unique=False)
    op.create_table(
        "priorityarea",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("openalex_subfields", sa.JSON(), nullable=False),
        sa.Column("openalex_topics", sa.JSON(), nullable=False),
        sa.Column("euroscivoc_paths", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "programme",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("family", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("requester_countries", sa.JSON(), nullable=False),
        sa.Column("partner_countries", sa.JSON(), nullable=False),
        sa.Column("priority_areas", sa.JSON(), nullable=False),
        sa.Column("default_partner_kinds", sa.JSON(), nullable=False),
        sa.Column("rules_as_of", sa.String(length=10), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("programme", sa.String(length=20), nullable=False),
        sa.Column("grant_id", sa.String(length=20), nullable=True),
        sa.Column("rcn", sa.String(length=20), nullable=True),
        sa.Column("acronym", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("objective", sa.String(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("euroscivoc", sa.JSON(), nullable=False),
        sa.Column("call", sa.String(), nullable=True),
        sa.Column("topic", sa.String(), nullable=True),
        sa.Column("topic_title", sa.String(), nullable=True),
        sa.Column("programme_part", sa.String(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_project_programme", "project", ["programme"], unique=False)
    op.create_index("ix_project_start_date", "project", ["start_date"], unique=False)
    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_apikey_prefix", "apikey", ["prefix"], unique=False)
    op.create_table(
        "participation",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("pic", sa.String(length=9), nullable=False),
        sa.Column("role", PARTICIPATION_ROLE, nullable=False),
        sa.Column("institution_id", sa.String(length=80), nullable=True),
        sa.Column("activity_type", sa.String(length=3), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("project_id", "pic", "role"),
    )
    op.create_index("ix_participation_institution_id", "participation", ["institution_id"], unique=False)
    op.create_table(
        "weightprofileversion",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("programme", sa.String(length=40), nullable=False),
        sa.Column("mmr_lambda", sa.Float(), nullable=False),
        sa.Column("max_per_country", sa.Integer(), nullable=True),
        sa.Column("ties", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["apikey.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_weightprofileversion_name_version"),
    )
    for column in ("key_id", "name", "programme"):
        op.create_index(f"ix_weightprofileversion_{column}", "weightprofileversion", [column], unique=False)
    # at most one published version per programme
    op.create_index("uq_weightprofileversion_published_programme", "weightprofileversion", ["programme"],
                    unique=True, sqlite_where=sa.text("published"), postgresql_where=sa.text("published"))
    op.create_table(
        "feedback",
        sa.Column("requester_id", sa.String(length=80), nullable=True),
        sa.Column("institution_id", sa.String(length=80), nullable=False),
        sa.Column("programme", sa.String(length=40), nullable=False),
        sa.Column("profile_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["apikey.id"]),
        sa.ForeignKeyConstraint(["profile_version_id"], ["weightprofileversion.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("institution_id", "key_id", "profile_version_id", "programme"):
        op.create_index(f"ix_feedback_{column}", "feedback", [column], unique=False)


def downgrade() -> None:
    for table in ("feedback", "weightprofileversion", "participation", "apikey", "project", "programme",
                  "priorityarea", "institution", "embedding_vector", "embedding_model"):
        op.drop_table(table)  # a table's indexes go with it
    bind = op.get_bind()
    INSTITUTION_KIND.drop(bind, checkfirst=True)  # PostgreSQL's enum types; nothing on SQLite
    PARTICIPATION_ROLE.drop(bind, checkfirst=True)
