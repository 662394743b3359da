"""The segment search index: entries with their embeddings, and the database's full-text index.

``knowledge_index`` (declared in ``schema.py``) holds one row per searchable segment. The
keyword side is the database's own full-text index, kept beside it under the same ``seq``:

* SQLite: an FTS5 table ``knowledge_fts(terms, scope)`` ranked with bm25 (``scope`` is unused:
  a token naming the dataset there made every search walk the whole dataset's list).
* PostgreSQL: a table ``knowledge_fts(seq, dataset_id, terms tsvector)`` with a GIN index,
  ranked with ``ts_rank``. The tsvector is written from our own terms (with positions), never
  parsed by a text search configuration, so both databases index exactly the same terms
  whatever the server's locale.

In both, each term is written behind a short prefix naming its dataset (``k`` and 12 hex digits
of its id): every dataset has postings of its own, so a search reads only its dataset's entries
however many datasets share a word. The dataset is still checked on the rows found.

The full-text index finds the candidates; they are ranked by the service with BM25 over the
statistics kept here (``knowledge_terms``: how many entries hold each term; the entry count and
total length per dataset), so the ranking is the same on both databases and stays sound on
small datasets, where SQLite's own bm25 weighs a term found in half the rows as nothing.

Terms come from ``services/retrieval/terms.py``; this module only stores and matches them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import insert_ignoring_conflicts
from difychat.server.store.schema import (
    document_segments,
    documents,
    knowledge_index,
    knowledge_index_versions,
    knowledge_terms,
)

FTS_TABLE = "knowledge_fts"
# Names the schema comparison leaves alone: the full-text structures are made by raw DDL.
UNDECLARED_PREFIX = FTS_TABLE


@dataclass(frozen=True, slots=True)
class IndexEntry:
    segment_id: str
    document_id: str
    # The segment's search terms, in order.
    terms: Sequence[str]
    embedding: bytes | None = None
    embedding_model: str | None = None


@dataclass(frozen=True, slots=True)
class KeywordCandidate:
    """A segment holding at least one query term: how often it holds each, and its length."""

    segment_id: str
    length: int
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class TermStats:
    entries: int
    total_length: int
    # Query term -> how many entries hold it.
    holding: dict[str, int] = field(default_factory=dict)


def _prefix(dataset_id: str) -> str:
    """What a dataset's terms are written behind in the full-text index (always the same length)."""
    return "k" + uuid.UUID(dataset_id).hex[:12]


PREFIX_CHARS = 13


def _tsvector(terms: Sequence[str]) -> str:
    """A tsvector literal with positions (their count ranks the segment), quoted lexemes."""
    positions: dict[str, list[int]] = {}
    for position, term in enumerate(terms[:16383], start=1):
        positions.setdefault(term, []).append(position)
    return " ".join(
        "'" + term.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(map(str, found[:256]))
        for term, found in positions.items()
    )


def _hex_uuid(value: object) -> str:
    """A UUID column read through text SQL (SQLite keeps 32 hex digits) in its usual form."""
    return str(uuid.UUID(str(value)))


def _fts5_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


# --- writing -------------------------------------------------------------------------------------


async def _change_stats(conn: AsyncConnection, dataset_id: str, entries: int, length: int) -> int:
    """Count a change to the dataset's index (entries and length added); the new version."""
    table = knowledge_index_versions
    await conn.execute(
        insert_ignoring_conflicts(
            conn, table, {"dataset_id": dataset_id, "version": 0, "entries": 0, "total_length": 0}
        )
    )
    row = (
        await conn.execute(
            sa.update(table)
            .where(table.c.dataset_id == dataset_id)
            .values(
                version=table.c.version + 1,
                entries=table.c.entries + entries,
                total_length=table.c.total_length + length,
            )
            .returning(table.c.version)
        )
    ).one()
    return int(row.version)


async def _change_terms(conn: AsyncConnection, dataset_id: str, holding: Counter[str], sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) entries holding each term; in term order (no deadlocks)."""
    if not holding:
        return
    terms = sorted(holding)
    table = knowledge_terms
    if sign > 0:
        # One statement, compiled once, run for every row (executemany).
        insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.dataset_id, table.c.term],
            set_={"entries": table.c.entries + insert.excluded.entries},
        )
        await conn.execute(
            upsert, [{"dataset_id": dataset_id, "term": t, "entries": holding[t]} for t in terms]
        )
        return
    await conn.execute(
        sa.update(table)
        .where(table.c.dataset_id == dataset_id, table.c.term == sa.bindparam("t_term"))
        .values(entries=table.c.entries - sa.bindparam("t_by")),
        [{"t_term": t, "t_by": holding[t]} for t in terms],
    )
    await conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id, table.c.entries <= 0))


async def version(conn: AsyncConnection, dataset_id: str) -> int:
    found = await conn.scalar(
        sa.select(knowledge_index_versions.c.version).where(
            knowledge_index_versions.c.dataset_id == dataset_id
        )
    )
    return int(found or 0)


# PostgreSQL advisory lock namespace of a dataset's index writes ("dcix"); the key is the
# dataset id's hash.
INDEX_LOCK = 0x64636978


async def hold_index(conn: AsyncConnection, dataset_id: str) -> None:
    """The dataset's index is written by one transaction at a time (PostgreSQL; on SQLite the
    first write takes the database's lock). Taken first: a rewrite updates the term counts and
    the version row twice (removal, then insertion), and two writes of one dataset taking them
    in different orders deadlocked."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:dataset))"),
            {"space": INDEX_LOCK, "dataset": dataset_id},
        )


async def hold_documents(conn: AsyncConnection, document_ids: Iterable[str]) -> None:
    """Lock the documents, in id order, until the transaction ends (PostgreSQL): the entries of
    their segments are rewritten by one transaction at a time (two edits of a segment index it at
    once), and not while a document is removed. A document before its segments, as everywhere.
    ``FOR NO KEY UPDATE`` lets rows that refer to the documents be written meanwhile. On SQLite
    the transaction is a ``db.write_transaction``."""
    if conn.dialect.name != "postgresql":
        return
    ids = sorted(set(document_ids))
    for start in range(0, len(ids), 500):
        await conn.execute(
            sa.select(documents.c.id)
            .where(documents.c.id.in_(ids[start : start + 500]))
            .order_by(documents.c.id)
            .with_for_update(key_share=True)
        )


async def present_segments(conn: AsyncConnection, segment_ids: Sequence[str]) -> set[str]:
    """Those of the segments still there."""
    present: set[str] = set()
    for start in range(0, len(segment_ids), 500):
        chunk = list(segment_ids[start : start + 500])
        query = sa.select(document_segments.c.id).where(document_segments.c.id.in_(chunk))
        present.update(str(r.id) for r in await conn.execute(query))
    return present


async def remove(conn: AsyncConnection, dataset_id: str, segment_ids: Sequence[str]) -> tuple[list[int], int]:
    """Forget these segments (unknown ids are ignored): the ``seq`` of each entry removed, and the
    index version after (0 when nothing was removed)."""
    removed: list[int] = []
    length = 0
    for start in range(0, len(segment_ids), 500):
        chunk = list(segment_ids[start : start + 500])
        rows = await conn.execute(
            sa.delete(knowledge_index)
            .where(knowledge_index.c.segment_id.in_(chunk), knowledge_index.c.dataset_id == dataset_id)
            .returning(knowledge_index.c.seq, knowledge_index.c.length)
        )
        for row in rows:
            removed.append(int(row.seq))
            length += int(row.length)
    if not removed:
        return [], 0
    holding: Counter[str] = Counter()
    for terms in await _fts_terms(conn, removed):
        holding.update(set(terms))
    await _delete_fts(conn, removed)
    await _change_terms(conn, dataset_id, holding, -1)
    return removed, await _change_stats(conn, dataset_id, -len(removed), -length)


async def _fts_terms(conn: AsyncConnection, seqs: Sequence[int]) -> list[list[str]]:
    """The terms of these entries (without their dataset prefix)."""
    out: list[list[str]] = []
    for start in range(0, len(seqs), 500):
        marks = ",".join(str(int(s)) for s in seqs[start : start + 500])
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(sa.text(f"SELECT terms FROM {FTS_TABLE} WHERE rowid IN ({marks})"))
            out.extend([t[PREFIX_CHARS:] for t in str(r.terms).split()] for r in rows)
        else:
            rows = await conn.execute(
                sa.text(f"SELECT tsvector_to_array(terms) AS terms FROM {FTS_TABLE} WHERE seq IN ({marks})")
            )
            out.extend([t[PREFIX_CHARS:] for t in r.terms] for r in rows)
    return out


async def _delete_fts(conn: AsyncConnection, seqs: Sequence[int]) -> None:
    column = "rowid" if conn.dialect.name == "sqlite" else "seq"
    for start in range(0, len(seqs), 500):
        marks = ",".join(str(int(s)) for s in seqs[start : start + 500])
        await conn.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE {column} IN ({marks})"))


async def drop_dataset(conn: AsyncConnection, dataset_id: str) -> None:
    # The full-text rows of exactly the entries deleted, however many were written meanwhile.
    deleted = await conn.execute(
        sa.delete(knowledge_index)
        .where(knowledge_index.c.dataset_id == dataset_id)
        .returning(knowledge_index.c.seq)
    )
    await _delete_fts(conn, [int(r.seq) for r in deleted])
    await conn.execute(sa.delete(knowledge_terms).where(knowledge_terms.c.dataset_id == dataset_id))
    await conn.execute(
        sa.delete(knowledge_index_versions).where(knowledge_index_versions.c.dataset_id == dataset_id)
    )


async def insert(
    conn: AsyncConnection, dataset_id: str, entries: Sequence[IndexEntry]
) -> tuple[list[int], int]:
    """Index new entries (after removing earlier ones): the ``seq`` given to each, in order, and
    the index version after."""
    if not entries:
        return [], 0
    rows = await conn.execute(
        sa.insert(knowledge_index).returning(knowledge_index.c.seq, sort_by_parameter_order=True),
        [
            {
                "segment_id": e.segment_id,
                "dataset_id": dataset_id,
                "document_id": e.document_id,
                "length": len(e.terms),
                "embedding": e.embedding,
                "embedding_model": e.embedding_model,
            }
            for e in entries
        ],
    )
    seqs = [int(r.seq) for r in rows]
    if conn.dialect.name == "sqlite":
        prefix = _prefix(dataset_id)
        await conn.execute(
            sa.text(f"INSERT INTO {FTS_TABLE}(rowid, terms, scope) VALUES (:seq, :terms, :scope)"),
            [
                {"seq": seq, "terms": " ".join(prefix + t for t in e.terms), "scope": ""}
                for seq, e in zip(seqs, entries, strict=True)
            ],
        )
    else:
        prefix = _prefix(dataset_id)
        await conn.execute(
            sa.text(
                f"INSERT INTO {FTS_TABLE}(seq, dataset_id, terms) "
                "VALUES (:seq, CAST(:dataset_id AS uuid), CAST(:terms AS tsvector))"
            ),
            [
                {"seq": seq, "dataset_id": dataset_id, "terms": _tsvector([prefix + t for t in e.terms])}
                for seq, e in zip(seqs, entries, strict=True)
            ],
        )
    holding: Counter[str] = Counter()
    for e in entries:
        holding.update(set(e.terms))
    await _change_terms(conn, dataset_id, holding, 1)
    return seqs, await _change_stats(conn, dataset_id, len(entries), sum(len(e.terms) for e in entries))


# --- searching -----------------------------------------------------------------------------------


async def term_stats(conn: AsyncConnection, dataset_id: str, terms: Sequence[str]) -> TermStats:
    row = (
        await conn.execute(
            sa.select(knowledge_index_versions.c.entries, knowledge_index_versions.c.total_length).where(
                knowledge_index_versions.c.dataset_id == dataset_id
            )
        )
    ).first()
    if row is None or not terms:
        return TermStats(0, 0)
    rows = await conn.execute(
        sa.select(knowledge_terms.c.term, knowledge_terms.c.entries).where(
            knowledge_terms.c.dataset_id == dataset_id, knowledge_terms.c.term.in_(list(terms))
        )
    )
    return TermStats(int(row.entries), int(row.total_length), {r.term: int(r.entries) for r in rows})


async def keyword_candidates(
    conn: AsyncConnection,
    dataset_id: str,
    terms: Sequence[str],
    limit: int,
    *,
    counted: Sequence[str] = (),
    ordered: bool = True,
) -> list[KeywordCandidate]:
    """Up to ``limit`` segments holding any of ``terms``, the full-text index's best first (or in
    no order when not ``ordered``), with how often each holds each of ``counted`` (or ``terms``)."""
    if not terms or limit <= 0:
        return []
    wanted = set(counted or terms)
    out: list[KeywordCandidate] = []
    if conn.dialect.name == "sqlite":
        prefix = _prefix(dataset_id)
        match = "terms : (" + " OR ".join(_fts5_phrase(prefix + t) for t in terms) + ")"
        rows = await conn.execute(
            sa.text(
                "SELECT ki.segment_id AS segment_id, ki.length AS length, f.terms AS terms FROM "
                f"(SELECT rowid, terms FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match "
                + ("AND rank MATCH 'bm25(1.0, 0.0)' ORDER BY rank " if ordered else "")
                + "LIMIT :limit) AS f JOIN knowledge_index AS ki ON ki.seq = f.rowid "
                # two datasets whose prefixes collide (one in 2^48) still never mix
                "WHERE ki.dataset_id = :dataset_id"
            ),
            {"match": match, "limit": limit, "dataset_id": uuid.UUID(dataset_id).hex},
        )
        for row in rows:
            counts = Counter(t[PREFIX_CHARS:] for t in str(row.terms).split() if t[PREFIX_CHARS:] in wanted)
            out.append(KeywordCandidate(_hex_uuid(row.segment_id), int(row.length), dict(counts)))
        return out
    prefix = _prefix(dataset_id)
    query = " | ".join("'" + (prefix + t).replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)
    rows = await conn.execute(
        sa.text(
            "SELECT ki.segment_id AS segment_id, ki.length AS length, "
            "(SELECT array_agg(u.lexeme || ' ' || coalesce(array_length(u.positions, 1), 1)) "
            " FROM unnest(f.terms) AS u WHERE u.lexeme = ANY(CAST(:terms AS text[]))) AS counts FROM "
            f"(SELECT seq, terms FROM {FTS_TABLE}, CAST(:query AS tsquery) AS q "
            "WHERE dataset_id = CAST(:dataset_id AS uuid) AND terms @@ q "
            + ("ORDER BY ts_rank(terms, q, 1) DESC " if ordered else "")
            + "LIMIT :limit) AS f JOIN knowledge_index AS ki ON ki.seq = f.seq"
        ),
        {
            "query": query,
            "terms": sorted(prefix + t for t in wanted),
            "dataset_id": dataset_id,
            "limit": limit,
        },
    )
    for row in rows:
        parsed: dict[str, int] = {}
        for item in row.counts or []:
            term, _, count = str(item).rpartition(" ")
            parsed[term[PREFIX_CHARS:]] = int(count)
        out.append(KeywordCandidate(_hex_uuid(row.segment_id), int(row.length), parsed))
    return out


@dataclass(frozen=True, slots=True)
class StoredVectors:
    seqs: list[int]
    segment_ids: list[str]
    blobs: list[bytes]


async def vectors(conn: AsyncConnection, dataset_id: str) -> StoredVectors:
    """The dataset's stored embeddings in ``seq`` order."""
    rows = await conn.execute(
        sa.select(knowledge_index.c.seq, knowledge_index.c.segment_id, knowledge_index.c.embedding)
        .where(knowledge_index.c.dataset_id == dataset_id, knowledge_index.c.embedding.is_not(None))
        .order_by(knowledge_index.c.seq)
    )
    out = StoredVectors([], [], [])
    for row in rows:
        out.seqs.append(int(row.seq))
        out.segment_ids.append(str(row.segment_id))
        out.blobs.append(bytes(row.embedding))
    return out
