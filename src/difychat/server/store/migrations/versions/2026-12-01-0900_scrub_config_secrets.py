"""remove credentials from stored config snapshots

Releases before this one kept any ``api_key`` written inside a feature block
(``text_to_speech.api_key`` and kin) in the stored snapshot of an app's
config. Snapshots never hold credentials now; this removes those already
stored. The credentials stay in the apps file, where they are read from.

Revision ID: 0005_scrub_config_secrets
Revises: 0002_app_features, 0003_files, 0004_annotations
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_scrub_config_secrets"
down_revision = ("0002_app_features", "0003_files", "0004_annotations")
branch_labels = None
depends_on = None

SECRET_KEYS = frozenset({"api_key", "api_keys"})

app_configs = sa.table(
    "app_configs",
    sa.column("id", sa.Uuid(as_uuid=False)),
    sa.column("config", sa.JSON()),
)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def upgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(app_configs.c.id, app_configs.c.config)).all():
        clean = _scrubbed(row.config)
        if clean != row.config:
            bind.execute(app_configs.update().where(app_configs.c.id == row.id).values(config=clean))


def downgrade() -> None:
    # Removed credentials cannot be put back; the apps file still has them.
    pass
