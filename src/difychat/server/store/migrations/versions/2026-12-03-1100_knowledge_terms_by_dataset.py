"""knowledge index: every term written behind its dataset's prefix

Entries indexed before this revision hold bare terms; from now on each term is written behind
``k`` and 12 hex digits of its dataset's id, so that a search reads only its own dataset's
postings. Rewrites the entries already there (rows already prefixed are left alone).

Revision ID: 0013_knowledge_terms_by_dataset
Revises: 0012_knowledge_fts_dataset_index
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013_knowledge_terms_by_dataset"
down_revision = "0012_knowledge_fts_dataset_index"
branch_labels = None
depends_on = None

BATCH = 500


def _prefix(dataset_id: object) -> str:
    return "k" + uuid.UUID(str(dataset_id)).hex[:12]


def _lexeme(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        rows = bind.execute(
            sa.text(
                "SELECT f.rowid, f.terms, ki.dataset_id FROM knowledge_fts AS f "
                "JOIN knowledge_index AS ki ON ki.seq = f.rowid"
            )
        ).fetchall()
        changed = []
        for rowid, terms, dataset_id in rows:
            prefix = _prefix(dataset_id)
            tokens = str(terms).split()
            if tokens and not tokens[0].startswith(prefix):
                changed.append({"r": rowid, "t": " ".join(prefix + t for t in tokens)})
        for start in range(0, len(changed), BATCH):
            bind.execute(
                sa.text("UPDATE knowledge_fts SET terms = :t, scope = '' WHERE rowid = :r"),
                changed[start : start + BATCH],
            )
        return
    rows = bind.execute(
        sa.text(
            "SELECT f.seq, f.dataset_id, u.lexeme, u.positions FROM knowledge_fts AS f, unnest(f.terms) AS u "
            "ORDER BY f.seq"
        )
    ).fetchall()
    vectors: dict[int, tuple[str, list[str]]] = {}
    for seq, dataset_id, lexeme, positions in rows:
        prefix = _prefix(dataset_id)
        _, parts = vectors.setdefault(int(seq), (prefix, []))
        if lexeme.startswith(prefix):
            continue
        where = ",".join(str(p) for p in positions or [])
        parts.append(_lexeme(prefix + lexeme) + (":" + where if where else ""))
    changed = [{"s": seq, "t": " ".join(parts)} for seq, (_, parts) in vectors.items() if parts]
    for start in range(0, len(changed), BATCH):
        bind.execute(
            sa.text("UPDATE knowledge_fts SET terms = CAST(:t AS tsvector) WHERE seq = :s"),
            changed[start : start + BATCH],
        )


def downgrade() -> None:
    # Entries keep their prefixed terms; a downgraded server searches them after re-indexing.
    pass
