"""API keys: a label, an expiry, when last used, and limits of their own

Revision ID: 0007_key_limits
Revises: 0006_worker_leases
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_key_limits"
down_revision = "0006_worker_leases"
branch_labels = None
depends_on = None

COLUMNS = ("label", "expires_at", "last_used_at", "rpm", "concurrency")


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
