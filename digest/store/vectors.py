"""Queries on paper vectors: sentence embeddings kept so each paper is encoded once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Column, Connection, insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError

from digest.store.engine import Queries
from digest.store.tables import VECTOR

_CHUNK = 400


class VectorQueries(Queries):
    """Reads and writes of stored paper embeddings."""

    def of(self, paper_ids: Sequence[str], model: str) -> dict[str, np.ndarray]:
        """The stored vectors of these papers under this model (those that exist)."""
        with self.reader.connect() as conn:
            rows = _rows(conn, [VECTOR.c.paper_id, VECTOR.c.vector], paper_ids, model)
            return {str(pid): np.frombuffer(bytes(blob), dtype=np.float32) for pid, blob in rows}

    def save(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors of papers under this model; what is stored already is kept."""
        try:
            with self.engine.begin() as conn:
                known = {str(r[0]) for r in _rows(conn, [VECTOR.c.paper_id], list(vectors), model)}
                fresh = [
                    {"paper_id": pid, "model": model, "vector": np.asarray(v, np.float32).tobytes()}
                    for pid, v in vectors.items()
                    if pid not in known
                ]
                if fresh:
                    conn.execute(insert(VECTOR), fresh)
        except IntegrityError:
            pass  # a concurrent run stored the same papers first: their vectors are equal


def _rows(
    conn: Connection, columns: list[Column[Any]], paper_ids: Sequence[str], model: str
) -> Iterator[Any]:
    wanted = sorted(set(paper_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = sa_select(*columns).where(VECTOR.c.model == model, VECTOR.c.paper_id.in_(chunk))
        yield from conn.execute(query)
