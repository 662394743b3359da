"""Ids and JSON as a page reads them (``page_id``, ``page_json``): the values the column types give."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from difychat.server.store.paging import page_id, page_json

metadata = sa.MetaData()
rows = sa.Table(
    "rows",
    metadata,
    sa.Column("n", sa.Integer, primary_key=True),
    sa.Column("id", sa.Uuid(as_uuid=False), nullable=True),
    sa.Column("doc", sa.JSON, nullable=True),
)


def read_back(ids: list[str | None], docs: list[Any]) -> tuple[list[Any], list[Any]]:
    """What the column types read, and what the page readers read, from a real SQLite database."""
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            rows.insert(),
            [{"n": n, "id": i, "doc": d} for n, (i, d) in enumerate(zip(ids, docs, strict=True))],
        )
        plain = conn.execute(sa.select(rows.c.id, rows.c.doc).order_by(rows.c.n)).all()
        paged = conn.execute(sa.select(page_id(rows.c.id), page_json(rows.c.doc)).order_by(rows.c.n)).all()
    engine.dispose()
    return [tuple(r) for r in plain], [tuple(r) for r in paged]


def test_page_ids_read_as_the_uuid_type_reads_them() -> None:
    ids: list[str | None] = [str(uuid.uuid4()) for _ in range(50)]
    ids += [str(uuid.uuid4()).upper(), None]
    plain, paged = read_back(ids, [None] * len(ids))
    assert paged == plain
    assert [p[0] for p in paged] == [None if i is None else i.lower() for i in ids]


def test_page_json_reads_as_the_json_type_reads_it() -> None:
    docs: list[Any] = [
        {},
        {"a": [1, 2.5, "x", None, True]},
        [],
        None,
        "text",
        {"n": 2**70},
        {"score": float("nan")},  # json.dumps writes NaN
        {"big": -(2**64)},
        {"inputs": {}, "files": []},
        "\u00e9\U0001f600",
    ]
    plain, paged = read_back([None] * len(docs), docs)
    # NaN is not equal to itself: compare the JSON text.
    assert json.dumps([p[1] for p in paged]) == json.dumps([p[1] for p in plain])
    assert json.dumps([p[1] for p in paged]) == json.dumps(docs)
