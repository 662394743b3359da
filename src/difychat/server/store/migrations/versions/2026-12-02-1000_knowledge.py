"""knowledge: datasets, process rules, files, documents, segments, indexing jobs, dataset keys

Revision ID: 0009_knowledge
Revises: 0008_agent_thoughts
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_knowledge"
down_revision = "0008_agent_thoughts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_keys",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("scoped", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_dataset_keys_key_hash")),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("permission", sa.String(length=32), nullable=False),
        sa.Column("data_source_type", sa.String(length=32), nullable=True),
        sa.Column("indexing_technique", sa.String(length=32), nullable=True),
        sa.Column("embedding_model", sa.String(length=255), nullable=True),
        sa.Column("embedding_model_provider", sa.String(length=255), nullable=True),
        sa.Column("retrieval_model", sa.JSON(), nullable=True),
        sa.Column("summary_index_setting", sa.JSON(), nullable=True),
        sa.Column("doc_form", sa.String(length=32), nullable=True),
        sa.Column("enable_api", sa.Boolean(), nullable=False),
        sa.Column("partial_member_list", sa.JSON(), nullable=False),
        sa.Column("external_knowledge_id", sa.String(length=255), nullable=True),
        sa.Column("external_knowledge_api_id", sa.String(length=255), nullable=True),
        sa.Column("external_retrieval_model", sa.JSON(), nullable=True),
        sa.Column("process_rule_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("updated_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_index(op.f("ix_datasets_created_at_id"), "datasets", ["created_at", "id"], unique=False)
    op.create_table(
        "dataset_files",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("extension", sa.String(length=32), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_files_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_files")),
    )
    op.create_index(op.f("ix_dataset_files_dataset_id"), "dataset_files", ["dataset_id"], unique=False)
    op.create_table(
        "dataset_key_scopes",
        sa.Column("key_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_key_scopes_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["dataset_keys.id"],
            name=op.f("fk_dataset_key_scopes_key_id_dataset_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", "dataset_id", name=op.f("pk_dataset_key_scopes")),
    )
    op.create_table(
        "dataset_process_rules",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_process_rules_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_process_rules")),
    )
    op.create_index(
        op.f("ix_dataset_process_rules_dataset_id"), "dataset_process_rules", ["dataset_id"], unique=False
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data_source_type", sa.String(length=32), nullable=False),
        sa.Column("file_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("process_rule_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_from", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("indexing_status", sa.String(length=16), nullable=False),
        sa.Column("processing_started_at", sa.DateTime(), nullable=True),
        sa.Column("parsing_completed_at", sa.DateTime(), nullable=True),
        sa.Column("cleaning_completed_at", sa.DateTime(), nullable=True),
        sa.Column("splitting_completed_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("indexing_latency", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("archived_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("doc_type", sa.String(length=32), nullable=True),
        sa.Column("doc_metadata", sa.JSON(), nullable=True),
        sa.Column("doc_form", sa.String(length=32), nullable=False),
        sa.Column("doc_language", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_documents_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["dataset_files.id"],
            name=op.f("fk_documents_file_id_dataset_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_dataset_id_batch"), "documents", ["dataset_id", "batch"], unique=False)
    op.create_index(
        op.f("ix_documents_dataset_id_created_at_position"),
        "documents",
        ["dataset_id", "created_at", "position"],
        unique=False,
    )
    op.create_index(op.f("ix_documents_dataset_id_name"), "documents", ["dataset_id", "name"], unique=False)
    op.create_table(
        "document_segments",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("document_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("index_node_id", sa.String(length=64), nullable=False),
        sa.Column("index_node_hash", sa.String(length=64), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("updated_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("indexing_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_document_segments_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_segments_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_segments")),
    )
    op.create_index(
        op.f("ix_document_segments_dataset_id"), "document_segments", ["dataset_id"], unique=False
    )
    op.create_index(
        op.f("ix_document_segments_document_id_position"),
        "document_segments",
        ["document_id", "position"],
        unique=False,
    )
    op.create_table(
        "indexing_jobs",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("document_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(), nullable=False),
        sa.Column("worker_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_indexing_jobs_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_indexing_jobs_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexing_jobs")),
        sa.UniqueConstraint("document_id", name=op.f("uq_indexing_jobs_document_id")),
    )
    op.create_index(
        op.f("ix_indexing_jobs_state_run_after"), "indexing_jobs", ["state", "run_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_indexing_jobs_state_run_after"), table_name="indexing_jobs")
    op.drop_table("indexing_jobs")
    op.drop_index(op.f("ix_document_segments_document_id_position"), table_name="document_segments")
    op.drop_index(op.f("ix_document_segments_dataset_id"), table_name="document_segments")
    op.drop_table("document_segments")
    op.drop_index(op.f("ix_documents_dataset_id_name"), table_name="documents")
    op.drop_index(op.f("ix_documents_dataset_id_created_at_position"), table_name="documents")
    op.drop_index(op.f("ix_documents_dataset_id_batch"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_dataset_process_rules_dataset_id"), table_name="dataset_process_rules")
    op.drop_table("dataset_process_rules")
    op.drop_table("dataset_key_scopes")
    op.drop_index(op.f("ix_dataset_files_dataset_id"), table_name="dataset_files")
    op.drop_table("dataset_files")
    op.drop_index(op.f("ix_datasets_created_at_id"), table_name="datasets")
    op.drop_table("datasets")
    op.drop_table("dataset_keys")
