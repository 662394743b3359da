"""conversation variables

Revision ID: 0002_app_features
Revises: 0001
Create Date: 2026-11-21 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_app_features"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_variables",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_variables_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_variables")),
        sa.UniqueConstraint(
            "conversation_id", "name", name=op.f("uq_conversation_variables_conversation_id_name")
        ),
    )
    with op.batch_alter_table("conversation_variables", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_variables_conversation_id_created_at_id"),
            ["conversation_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_variables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_variables_conversation_id_created_at_id"))
    op.drop_table("conversation_variables")
