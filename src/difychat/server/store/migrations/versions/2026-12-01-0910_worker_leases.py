"""worker leases: which process runs each answer, so a dead one's answers are recovered

Revision ID: 0006_worker_leases
Revises: 0005_scrub_config_secrets
Create Date: 2026-12-01 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_worker_leases"
down_revision = "0005_scrub_config_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker_id", sa.Uuid(as_uuid=False), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_messages_status_worker_id"), ["status", "worker_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_status_worker_id"))
        batch_op.drop_column("worker_id")
    op.drop_table("workers")
