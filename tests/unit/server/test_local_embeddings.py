"""The local embedding model (the ``local-embeddings`` extra), when installed: vectors that put a
question next to its answer, computed on this machine."""

from __future__ import annotations

import numpy as np
import pytest

from difychat.server.providers import local_embeddings

pytestmark = pytest.mark.skipif(
    not local_embeddings.available(), reason="difychat[local-embeddings] not installed"
)


def test_a_question_lands_nearest_its_answer() -> None:
    model = local_embeddings.LocalEmbeddings()
    question, *documents = model.embed_sync(
        [
            "How do I reset my password?",
            "Open the account settings and choose 'forgot password' to set a new one.",
            "The Eiffel Tower is in Paris.",
            "Bananas are rich in potassium.",
        ]
    )
    assert len(question) == local_embeddings.DIMENSIONS
    sims = np.asarray(documents) @ np.asarray(question)
    assert int(np.argmax(sims)) == 0
    assert abs(float(np.linalg.norm(question)) - 1.0) < 1e-4


@pytest.mark.anyio
async def test_embedding_runs_off_the_event_loop() -> None:
    model = local_embeddings.LocalEmbeddings()
    assert await model.embed([]) == []
    (vector,) = await model.embed(["知识库"])
    assert len(vector) == local_embeddings.DIMENSIONS
