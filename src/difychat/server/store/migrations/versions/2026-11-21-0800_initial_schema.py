"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 07:38:53.541957
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enable_api", sa.Boolean(), nullable=False),
        sa.Column("config_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("name", name=op.f("uq_apps_name")),
    )
    op.create_table(
        "stop_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stop_requests")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_api_keys_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_app_id"), ["app_id"], unique=False)

    op.create_table(
        "app_configs",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_configs_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_configs")),
    )
    with op.batch_alter_table("app_configs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_app_configs_app_id_fingerprint"), ["app_id", "fingerprint"], unique=False
        )

    op.create_table(
        "end_users",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_end_users_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_end_users")),
        sa.UniqueConstraint("app_id", "session_id", name=op.f("uq_end_users_app_id_session_id")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_config_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("end_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("introduction", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_config_id"], ["app_configs.id"], name=op.f("fk_conversations_app_config_id_app_configs")
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_conversations_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_users.id"],
            name=op.f("fk_conversations_end_user_id_end_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_end_user_id_created_at_id"),
            ["end_user_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_end_user_id_updated_at_id"),
            ["end_user_id", "updated_at", "id"],
            unique=False,
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("end_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("task_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("parent_message_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("usage", sa.JSON(), nullable=True),
        sa.Column("retriever_resources", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_messages_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_users.id"],
            name=op.f("fk_messages_end_user_id_end_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_conversation_id_created_at_id"),
            ["conversation_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_messages_task_id"), ["task_id"], unique=False)

    op.create_table(
        "message_feedbacks",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("message_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("from_source", sa.String(length=16), nullable=False),
        sa.Column("from_end_user_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("from_account_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_message_feedbacks_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_feedbacks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_feedbacks_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_feedbacks")),
        sa.UniqueConstraint(
            "message_id", "from_source", name=op.f("uq_message_feedbacks_message_id_from_source")
        ),
    )
    with op.batch_alter_table("message_feedbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_feedbacks_app_id_created_at_id"),
            ["app_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("message_feedbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_feedbacks_app_id_created_at_id"))

    op.drop_table("message_feedbacks")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_task_id"))
        batch_op.drop_index(batch_op.f("ix_messages_conversation_id_created_at_id"))

    op.drop_table("messages")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_end_user_id_updated_at_id"))
        batch_op.drop_index(batch_op.f("ix_conversations_end_user_id_created_at_id"))

    op.drop_table("conversations")
    op.drop_table("end_users")
    with op.batch_alter_table("app_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_configs_app_id_fingerprint"))

    op.drop_table("app_configs")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_app_id"))

    op.drop_table("api_keys")
    op.drop_table("stop_requests")
    op.drop_table("apps")
