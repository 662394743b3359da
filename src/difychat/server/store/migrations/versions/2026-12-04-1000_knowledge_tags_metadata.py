"""knowledge tags and metadata: tags bound to datasets, metadata fields bound to documents

Tags are workspace-wide names (Dify's tags of type ``knowledge``); a dataset carries any number
of them. Metadata fields belong to one dataset; a document carries the fields bound to it, their
values kept in its ``doc_metadata`` object. ``datasets.built_in_field_enabled`` turns on the
built-in fields (document name, uploader, dates, source); existing datasets start with it off.

Revision ID: 0016_knowledge_tags_metadata
Revises: 0013_knowledge_terms_by_dataset
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_knowledge_tags_metadata"
down_revision = "0013_knowledge_terms_by_dataset"
branch_labels = None
depends_on = None

Id = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    # In place, not a batch: on SQLite a batch copies ``datasets`` and drops the old table, and the
    # drop cascades to every document, segment and file of every dataset.
    op.add_column(
        "datasets",
        sa.Column("built_in_field_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "knowledge_tags",
        sa.Column("id", Id, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_knowledge_tags_name")),
    )
    op.create_index(
        op.f("ix_knowledge_tags_created_at_id"), "knowledge_tags", ["created_at", "id"], unique=False
    )
    op.create_table(
        "knowledge_tag_bindings",
        sa.Column("tag_id", Id, nullable=False),
        sa.Column("dataset_id", Id, nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["knowledge_tags.id"],
            name=op.f("fk_knowledge_tag_bindings_tag_id_knowledge_tags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_knowledge_tag_bindings_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tag_id", "dataset_id", name=op.f("pk_knowledge_tag_bindings")),
    )
    op.create_index(
        op.f("ix_knowledge_tag_bindings_dataset_id"), "knowledge_tag_bindings", ["dataset_id"], unique=False
    )
    op.create_table(
        "dataset_metadata_fields",
        sa.Column("id", Id, nullable=False),
        sa.Column("dataset_id", Id, nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("updated_by", Id, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_metadata_fields_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_metadata_fields")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_dataset_metadata_fields_dataset_id_name")),
    )
    op.create_table(
        "dataset_metadata_bindings",
        sa.Column("metadata_id", Id, nullable=False),
        sa.Column("document_id", Id, nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["metadata_id"],
            ["dataset_metadata_fields.id"],
            name=op.f("fk_dataset_metadata_bindings_metadata_id_dataset_metadata_fields"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_dataset_metadata_bindings_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("metadata_id", "document_id", name=op.f("pk_dataset_metadata_bindings")),
    )
    op.create_index(
        op.f("ix_dataset_metadata_bindings_document_id"),
        "dataset_metadata_bindings",
        ["document_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dataset_metadata_bindings_document_id"), table_name="dataset_metadata_bindings")
    op.drop_table("dataset_metadata_bindings")
    op.drop_table("dataset_metadata_fields")
    op.drop_index(op.f("ix_knowledge_tag_bindings_dataset_id"), table_name="knowledge_tag_bindings")
    op.drop_table("knowledge_tag_bindings")
    op.drop_index(op.f("ix_knowledge_tags_created_at_id"), table_name="knowledge_tags")
    op.drop_table("knowledge_tags")
    # In place too (SQLite 3.35+ drops a plain column itself).
    op.drop_column("datasets", "built_in_field_enabled")
