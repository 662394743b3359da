"""annotations, annotation reply settings and jobs

Revision ID: 0004_annotations
Revises: 0001
Create Date: 2026-11-21 09:02:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_annotations"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", Id, nullable=False),
        sa.Column("app_id", Id, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("account_name", sa.String(length=255), nullable=False),
        sa.Column("embedding", sa.JSON(), nullable=True),
        sa.Column("embedding_model", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_annotations_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotations_app_id_created_at_id"), ["app_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "annotation_settings",
        sa.Column("app_id", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("score_threshold", sa.Float(), nullable=False),
        sa.Column("embedding_provider_name", sa.String(length=255), nullable=False),
        sa.Column("embedding_model_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_annotation_settings_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_annotation_settings")),
    )

    op.create_table(
        "annotation_jobs",
        sa.Column("id", Id, nullable=False),
        sa.Column("app_id", Id, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_msg", sa.Text(), nullable=False),
        sa.Column("score_threshold", sa.Float(), nullable=False),
        sa.Column("embedding_provider_name", sa.String(length=255), nullable=False),
        sa.Column("embedding_model_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_annotation_jobs_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_jobs")),
    )
    with op.batch_alter_table("annotation_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotation_jobs_app_id_status"), ["app_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("annotation_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_jobs_app_id_status"))
    op.drop_table("annotation_jobs")
    op.drop_table("annotation_settings")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotations_app_id_created_at_id"))
    op.drop_table("annotations")
