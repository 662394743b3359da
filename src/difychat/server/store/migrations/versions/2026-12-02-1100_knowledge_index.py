"""knowledge index: searchable segments with their embeddings, and the full-text index beside them

Revision ID: 0010_knowledge_index
Revises: 0009_knowledge
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_knowledge_index"
down_revision = "0009_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_index",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("segment_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("document_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_knowledge_index")),
        sa.UniqueConstraint("segment_id", name=op.f("uq_knowledge_index_segment_id")),
    )
    op.create_index(
        op.f("ix_knowledge_index_dataset_id_seq"), "knowledge_index", ["dataset_id", "seq"], unique=False
    )
    op.create_table(
        "knowledge_index_versions",
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("total_length", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_knowledge_index_versions")),
    )
    op.create_table(
        "knowledge_terms",
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "term", name=op.f("pk_knowledge_terms")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Terms are written space-separated by our own tokenizer; unicode61 only splits them.
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts USING fts5(terms, scope, "
            "tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE TABLE knowledge_fts (seq bigint PRIMARY KEY, dataset_id uuid NOT NULL, "
            "terms tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX knowledge_fts_terms ON knowledge_fts USING gin (terms)")
        op.execute("CREATE INDEX knowledge_fts_dataset ON knowledge_fts (dataset_id)")


def downgrade() -> None:
    op.execute("DROP TABLE knowledge_fts")
    op.drop_table("knowledge_terms")
    op.drop_table("knowledge_index_versions")
    op.drop_index(op.f("ix_knowledge_index_dataset_id_seq"), table_name="knowledge_index")
    op.drop_table("knowledge_index")
