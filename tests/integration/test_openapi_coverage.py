"""Every operation of Dify's published OpenAPI document for this API is served."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_service
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openapi_chat.json"
ROUTE_MISSING = "The requested URL was not found on the server."
SAMPLE_ID = "4f1c1d2e-0000-4000-8000-000000000000"


def require_spec() -> None:
    """Dify's document lives beside the repository (``../shared/reference``), not in it: without it
    these tests skip, or fail when services are required (CI)."""
    if not SPEC.exists():
        missing_service(f"Dify's OpenAPI document is not at {SPEC} (shared/reference/ beside the repository)")


def operations() -> list[tuple[str, str]]:
    require_spec()
    paths = json.loads(SPEC.read_text())["paths"]
    return [
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        if method in ("get", "post", "put", "delete", "patch")
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "enable" if m.group(1) == "action" else SAMPLE_ID, path)


def test_the_reference_document_lists_the_whole_chat_api() -> None:
    assert len(operations()) == 26


def operation_params() -> list[Any]:
    if SPEC.exists():
        return list(operations())
    return [pytest.param("", "", id="document-missing")]  # runs, to skip or fail with the reason


@pytest.mark.parametrize(("method", "path"), operation_params())
async def test_operation_is_routed(server: RunningServer, method: str, path: str) -> None:
    require_spec()
    async with server.client() as client:
        kwargs: dict[str, Any] = {"params": {"user": "u1"}}
        if method in ("POST", "PUT", "DELETE"):
            kwargs["json"] = {"user": "u1"}
        response = await client.request(method, concrete(path), **kwargs)
    assert response.status_code != 405, f"{method} {path} is not routed"
    assert response.status_code < 500, response.text
    body = response.content and response.headers.get("content-type", "").startswith("application/json")
    if response.status_code == 404:
        assert body and response.json()["message"] != ROUTE_MISSING + (
            " If you entered the URL manually please check your spelling and try again."
        ), f"{method} {path} is not routed"
    if response.status_code >= 400:
        assert body and list(response.json())[:3] in (
            ["code", "message", "status"],
            ["message", "code", "status"],
        )
