"""GET /parameters, /meta, /info, /site and /end-users/{id}."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from difychat.server.store.schema import conversations, end_users
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import (
    OTHER_APP_KEY,
    PLAIN_KEY,
    SUPPORT_KEY,
    RunningServer,
    ServerFactory,
    apps_file,
)
from tests.integration.helpers import assert_error, chat, database, random_id

FEATURED_KEY = "app-featuredfeaturedfeat001"
IMAGE_SITE_KEY = "app-imagesiteimagesiteim001"

pytestmark = pytest.mark.anyio

PARAMETER_KEYS = [
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "user_input_form",
    "sensitive_word_avoidance",
    "file_upload",
    "system_parameters",
]
SITE_KEYS = [
    "title",
    "chat_color_theme",
    "chat_color_theme_inverted",
    "icon_type",
    "icon",
    "icon_background",
    "description",
    "copyright",
    "privacy_policy",
    "custom_disclaimer",
    "default_language",
    "show_workflow_steps",
    "use_icon_as_answer_icon",
    "icon_url",
]
END_USER_KEYS = [
    "id",
    "tenant_id",
    "app_id",
    "type",
    "external_user_id",
    "name",
    "is_anonymous",
    "session_id",
    "created_at",
    "updated_at",
]


def featured_apps(upstream: FakeUpstream) -> dict[str, Any]:
    data = apps_file(upstream)
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    data["apps"] += [
        {
            "name": "Featured",
            "api_keys": [FEATURED_KEY],
            "model": model,
            "description": "Answers questions about orders.",
            "tags": ["support", "orders"],
            "author_name": "Jane",
            "site": {
                "title": "Order Desk",
                "chat_color_theme": "#4A90D9",
                "chat_color_theme_inverted": True,
                "icon": "📦",
                "icon_background": "#FFFFFF",
                "copyright": "2026 Acme",
                "privacy_policy": "https://example.com/privacy",
                "custom_disclaimer": "Answers may be wrong.",
                "default_language": "de-DE",
                "show_workflow_steps": False,
                "use_icon_as_answer_icon": True,
            },
            "suggested_questions_after_answer": True,
            "speech_to_text": {"enabled": True},
            "text_to_speech": {
                "enabled": True,
                "voice": "alloy",
                "language": "en-US",
                "autoPlay": "disabled",
            },
            "retriever_resource": {"enabled": False},
            "more_like_this": {"enabled": False},
            "file_upload": {
                "image": {
                    "enabled": True,
                    "number_limits": 2,
                    "detail": "low",
                    "transfer_methods": ["local_file"],
                },
                "enabled": True,
                "allowed_file_types": ["image", "document"],
                "allowed_file_extensions": [],
                "allowed_file_upload_methods": ["remote_url", "local_file"],
                "number_limits": 2,
            },
            "agent_mode": {
                "tools": [{"tool_name": "calculator", "icon": {"background": "#252525", "content": "🧮"}}]
            },
        },
        {
            "name": "Image Site",
            "api_keys": [IMAGE_SITE_KEY],
            "model": model,
            "site": {"icon_type": "image", "icon_url": "https://cdn.example.com/icon.png"},
        },
    ]
    return data


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(featured_apps(upstream), allow_unicode=True))
    return await make_server()


async def test_parameters_of_an_unconfigured_app_carry_dify_defaults(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        response = await client.get("/parameters")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == PARAMETER_KEYS
    assert body == {
        "opening_statement": None,
        "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": False},
        "speech_to_text": {"enabled": False},
        "text_to_speech": {"enabled": False},
        "retriever_resource": {"enabled": True},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "user_input_form": [],
        "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
        "file_upload": {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            }
        },
        "system_parameters": {
            "image_file_size_limit": 10,
            "video_file_size_limit": 100,
            "audio_file_size_limit": 50,
            "file_size_limit": 15,
            "workflow_file_upload_limit": 10,
        },
    }


async def test_parameters_show_the_configured_form_and_features(server: RunningServer) -> None:
    async with server.client(SUPPORT_KEY) as client:
        support = (await client.get("/parameters", params={"user": "ignored"})).json()
    assert support["opening_statement"] == "Hi {{name}}, how can I help?"
    assert support["suggested_questions"] == ["What can you do?"]
    assert support["user_input_form"][1] == {
        "select": {"variable": "company", "label": "Company", "required": True, "options": ["Acme", "Globex"]}
    }
    async with server.client(FEATURED_KEY) as client:
        featured = (await client.get("/parameters")).json()
    assert list(featured) == PARAMETER_KEYS
    assert featured["suggested_questions_after_answer"] == {"enabled": True}
    assert featured["speech_to_text"] == {"enabled": True}
    assert featured["text_to_speech"] == {
        "enabled": True,
        "voice": "alloy",
        "language": "en-US",
        "autoPlay": "disabled",
    }
    assert featured["retriever_resource"] == {"enabled": False}
    assert featured["more_like_this"] == {"enabled": False}
    assert list(featured["file_upload"]) == [
        "image",
        "enabled",
        "allowed_file_types",
        "allowed_file_extensions",
        "allowed_file_upload_methods",
        "number_limits",
    ]
    assert featured["file_upload"]["image"] == {
        "enabled": True,
        "number_limits": 2,
        "detail": "low",
        "transfer_methods": ["local_file"],
    }
    # Every feature flag is an object, never a bare boolean (typed clients bind them to classes).
    for key in PARAMETER_KEYS[2:8] + ["sensitive_word_avoidance", "file_upload"]:
        assert isinstance(featured[key], dict), key


async def test_system_parameters_follow_the_server_upload_limits(make_server: ServerFactory) -> None:
    running = await make_server(
        upload_image_file_size_limit=3 * 1024 * 1024,
        upload_file_size_limit=20 * 1024 * 1024,
        workflow_file_upload_limit=4,
    )
    async with running.client(PLAIN_KEY) as client:
        body = (await client.get("/parameters")).json()
    assert body["system_parameters"] == {
        "image_file_size_limit": 3,
        "video_file_size_limit": 100,
        "audio_file_size_limit": 50,
        "file_size_limit": 20,
        "workflow_file_upload_limit": 4,
    }


async def test_meta_lists_tool_icons(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        plain = await client.get("/meta")
    assert plain.status_code == 200
    assert plain.json() == {"tool_icons": {}}
    async with server.client(FEATURED_KEY) as client:
        featured = (await client.get("/meta")).json()
    assert featured == {"tool_icons": {"calculator": {"background": "#252525", "content": "🧮"}}}


async def test_info(server: RunningServer) -> None:
    async with server.client(FEATURED_KEY) as client:
        response = await client.get("/info")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["name", "description", "tags", "mode", "author_name"]
    assert body == {
        "name": "Featured",
        "description": "Answers questions about orders.",
        "tags": ["support", "orders"],
        "mode": "chat",
        "author_name": "Jane",
    }
    async with server.client(PLAIN_KEY) as client:
        plain = (await client.get("/info")).json()
    assert plain == {"name": "Plain", "description": "", "tags": [], "mode": "chat", "author_name": None}


async def test_site_configured_and_defaults(server: RunningServer) -> None:
    async with server.client(FEATURED_KEY) as client:
        response = await client.get("/site")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == SITE_KEYS
    assert body == {
        "title": "Order Desk",
        "chat_color_theme": "#4A90D9",
        "chat_color_theme_inverted": True,
        "icon_type": "emoji",
        "icon": "📦",
        "icon_background": "#FFFFFF",
        "description": "Answers questions about orders.",
        "copyright": "2026 Acme",
        "privacy_policy": "https://example.com/privacy",
        "custom_disclaimer": "Answers may be wrong.",
        "default_language": "de-DE",
        "show_workflow_steps": False,
        "use_icon_as_answer_icon": True,
        "icon_url": None,
    }
    async with server.client(PLAIN_KEY) as client:
        plain = (await client.get("/site")).json()
    assert list(plain) == SITE_KEYS
    assert plain["title"] == "Plain"
    assert plain["icon_type"] == "emoji" and plain["icon"] and plain["icon_url"] is None
    assert plain["chat_color_theme"] is None and plain["chat_color_theme_inverted"] is False
    assert plain["default_language"] == "en-US"
    async with server.client(IMAGE_SITE_KEY) as client:
        image = (await client.get("/site")).json()
    assert image["icon_type"] == "image"
    assert image["icon_url"] == "https://cdn.example.com/icon.png"


# The random id stays out of the test's name: parallel workers must collect the same tests.
@pytest.mark.parametrize(
    "path",
    [
        "/parameters",
        "/meta",
        "/info",
        "/site",
        pytest.param(f"/end-users/{random_id()}", id="/end-users/{id}"),
    ],
)
async def test_app_info_endpoints_need_a_valid_key(server: RunningServer, path: str) -> None:
    async with server.client(None) as client:
        missing = await client.get(path)
    assert_error(missing, 401, "unauthorized")
    async with server.client("app-notakeynotakeynotakey01") as client:
        wrong = await client.get(path)
    assert_error(wrong, 401, "unauthorized", "Access token is invalid")


async def test_end_user_by_id(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        await chat(client, "alice")
        alice = await _end_user_id(server, "alice")
        response = await client.get(f"/end-users/{alice}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == END_USER_KEYS
    assert body["id"] == alice
    assert body["type"] == "service_api"
    assert body["external_user_id"] == "alice" and body["session_id"] == "alice"
    assert body["name"] is None and body["is_anonymous"] is False
    assert body["created_at"].endswith("Z")
    datetime.fromisoformat(body["created_at"].removesuffix("Z"))


async def test_anonymous_end_user(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        # Renaming without ``user`` acts as the anonymous default end user (created on sight).
        response = await client.post(f"/conversations/{random_id()}/name", json={"name": "x"})
        assert response.status_code == 404
        anonymous_id = await _end_user_id(server, "DEFAULT-USER")
        body = (await client.get(f"/end-users/{anonymous_id}")).json()
    assert body["is_anonymous"] is True
    assert body["session_id"] == "DEFAULT-USER"


@pytest.mark.parametrize("end_user", ["unknown", "malformed", "other-app"])
async def test_end_user_outside_the_app_is_not_found(server: RunningServer, end_user: str) -> None:
    async with server.client(OTHER_APP_KEY) as other:
        await chat(other, "bob")
    ids = {"unknown": random_id(), "malformed": "not-a-uuid", "other-app": await _end_user_id(server, "bob")}
    async with server.client(PLAIN_KEY) as client:
        response = await client.get(f"/end-users/{ids[end_user]}")
    assert_error(response, 404, "end_user_not_found", "End user not found.")


async def _end_user_id(server: RunningServer, session: str) -> str:
    """The id the API shows for an end user (as ``created_by`` on uploads), read from the database."""
    async with database(server) as engine, engine.connect() as conn:
        rows = (await conn.execute(sa.select(end_users.c.id).where(end_users.c.session_id == session))).all()
    assert len(rows) == 1, rows
    return str(rows[0].id)


async def test_a_burst_of_first_requests_makes_one_end_user_each(server: RunningServer) -> None:
    # Forty new users at once, and ten requests at once from one more new user: every turn is
    # answered, each user is made once, and the ten share that one user's id.
    async with server.client() as client:
        answers = await asyncio.gather(
            *(chat(client, f"burst-{n}", auto_generate_name=False) for n in range(40)),
            *(chat(client, "burst-same", auto_generate_name=False) for _ in range(10)),
        )
    assert len(answers) == 50
    async with database(server) as engine, engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(end_users.c.session_id, sa.func.count())
                .where(end_users.c.session_id.like("burst-%"))
                .group_by(end_users.c.session_id)
            )
        ).all()
        owners = (
            await conn.execute(
                sa.select(conversations.c.end_user_id)
                .distinct()
                .where(conversations.c.id.in_([a["conversation_id"] for a in answers[40:]]))
            )
        ).all()
    assert len(rows) == 41 and all(count == 1 for _, count in rows)
    assert len(owners) == 1
