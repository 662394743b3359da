from __future__ import annotations

import pytest

from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.anyio


async def test_blocking_chat_answers_with_the_upstream_text(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post(
            "/chat-messages", json={"inputs": {}, "query": "hi", "user": "u1", "response_mode": "blocking"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "Hello from the fake model."
