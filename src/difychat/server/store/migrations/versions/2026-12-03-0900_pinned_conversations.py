"""conversations pinned on the web chat page

Revision ID: 0011_pinned_conversations
Revises: 0010_knowledge_index
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_pinned_conversations"
down_revision = "0010_knowledge_index"
branch_labels = None
depends_on = None

Id = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "pinned_conversations",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("end_user_id", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_pinned_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_users.id"],
            name=op.f("fk_pinned_conversations_end_user_id_end_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_pinned_conversations")),
    )
    with op.batch_alter_table("pinned_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pinned_conversations_end_user_id"), ["end_user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pinned_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pinned_conversations_end_user_id"))
    op.drop_table("pinned_conversations")
