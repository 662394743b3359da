"""The web app's API under /api without a browser: passports (cookie and header), each passport its
own end user, the sites an app may switch off, pins, and the pages and assets themselves."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from difychat.server.services.web_sites import sign_user_id
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory, apps_file
from tests.integration.helpers import assert_error, random_id
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

PLAIN = "PlainSiteCode001"
CLOSED = "ClosedSiteCode01"
SIGNED = "SignedSiteCode01"
SUPPORT = "SupportSiteCode1"
EMBED_SECRET = "embed-secret-for-tests"


def web_apps(upstream: FakeUpstream, *, plain_enabled: bool = True) -> dict[str, Any]:
    document = apps_file(upstream)
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    for app in document["apps"]:
        if app["name"] == "Plain":
            app["site"] = {"code": PLAIN, "enabled": plain_enabled, "copyright": "Acme"}
        if app["name"] == "Support Bot":
            app["site"] = {"code": SUPPORT}
    document["apps"] += [
        {"name": "Closed", "model": model, "site": {"code": CLOSED, "enabled": False}},
        {"name": "Signed", "model": model, "site": {"code": SIGNED, "embed_secret": EMBED_SECRET}},
    ]
    return document


@pytest.fixture
async def web(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(web_apps(upstream), allow_unicode=True))
    return await make_server()


def browser(server: RunningServer, code: str = PLAIN) -> httpx.AsyncClient:
    """One browser profile: its own cookie jar; every request names the site, as the page does."""
    return httpx.AsyncClient(base_url=server.base_url, headers={"X-App-Code": code}, timeout=30)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return loaded


async def passport(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/api/passport", params=params)
    assert response.status_code == 200, response.text
    return claims(response.json()["access_token"])


async def stream_turn(client: httpx.AsyncClient, query: str = "hi", **fields: Any) -> list[dict[str, Any]]:
    body = {"inputs": {}, "query": query, "response_mode": "streaming", **fields}
    response = await client.post("/api/chat-messages", json=body)
    assert response.status_code == 200, response.text
    return [frame.data for frame in parse_frames(response.content) if frame.data is not None]


async def test_a_passport_cookie_carries_the_visitor_through_a_streamed_turn(web: RunningServer) -> None:
    async with browser(web) as page:
        response = await page.get("/api/passport")
        assert response.status_code == 200, response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"passport-{PLAIN}=")
        for attribute in ("HttpOnly", "Path=/", "SameSite=lax", "Max-Age=2592000"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain HTTP
        assert response.headers["cache-control"] == "no-store"
        found = claims(response.json()["access_token"])
        assert list(found) == ["iss", "sub", "app_id", "app_code", "end_user_id", "exp"]
        assert found["sub"] == "Web API Passport" and found["app_code"] == PLAIN
        assert found["iss"] == found["app_id"]
        assert 29 * 86400 < found["exp"] - time.time() <= 30 * 86400

        site = (await page.get("/api/site")).json()
        assert list(site) == [
            "app_id",
            "end_user_id",
            "enable_site",
            "site",
            "model_config",
            "plan",
            "can_replace_logo",
            "custom_config",
            "mode",
        ]
        assert site["app_id"] == found["app_id"] and site["end_user_id"] == found["end_user_id"]
        assert site["site"]["title"] == "Plain" and site["site"]["copyright"] == "Acme"
        assert list(site["site"])[-3:] == ["prompt_public", "show_workflow_steps", "use_icon_as_answer_icon"]
        async with web.client(PLAIN_KEY) as api:
            assert (await page.get("/api/parameters")).json() == (await api.get("/parameters")).json()
            assert (await page.get("/api/meta")).json() == (await api.get("/meta")).json()

        events = await stream_turn(page, "hello")
        assert events[-1]["event"] == "message_end"
        answer = "".join(e["answer"] for e in events if e["event"] == "message")
        assert answer == "Hello from the fake model."
        conversation_id = events[0]["conversation_id"]
        # The page names the conversation itself: the turn does not ask the model for a title.
        listed = (await page.get("/api/conversations")).json()
        assert [c["id"] for c in listed["data"]] == [conversation_id]
        assert listed["data"][0]["name"] == "hello"
        renamed = await page.post(f"/api/conversations/{conversation_id}/name", json={"auto_generate": True})
        assert renamed.json()["name"] == "A fake title"

        history = (await page.get("/api/messages", params={"conversation_id": conversation_id})).json()
        (message,) = history["data"]
        assert message["answer"] == answer and list(message)[-1] == "metadata"
        assert list(message["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
        feedback = await page.post(f"/api/messages/{message['id']}/feedbacks", json={"rating": "like"})
        assert feedback.json() == {"result": "success"}
        history = (await page.get("/api/messages", params={"conversation_id": conversation_id})).json()
        assert history["data"][0]["feedback"] == {"rating": "like"}

        # A reload asks for a passport again: the cookie keeps the same visitor.
        again = await passport(page)
        assert again["end_user_id"] == found["end_user_id"]

    # The service API's users never see a page visitor's conversations.
    async with web.client(PLAIN_KEY) as api:
        for user in (found["end_user_id"], "DEFAULT-USER", found["end_user_id"].split("-")[0]):
            listed = (await api.get("/conversations", params={"user": user})).json()
            assert conversation_id not in [c["id"] for c in listed["data"]]


async def test_each_passport_is_an_end_user_of_its_own(web: RunningServer) -> None:
    async with browser(web) as alice, browser(web) as bob:
        first = await passport(alice)
        second = await passport(bob)
        assert first["end_user_id"] != second["end_user_id"]
        events = await stream_turn(alice, "mine")
        conversation_id = events[0]["conversation_id"]
        message_id = events[-1]["message_id"]

        assert (await bob.get("/api/conversations")).json()["data"] == []
        not_found = "Conversation Not Exists."
        messages = await bob.get("/api/messages", params={"conversation_id": conversation_id})
        assert_error(messages, 404, "not_found", not_found)
        rename = await bob.post(f"/api/conversations/{conversation_id}/name", json={"name": "taken"})
        assert_error(rename, 404, "not_found", not_found)
        assert_error(await bob.patch(f"/api/conversations/{conversation_id}/pin"), 404, "not_found")
        assert_error(await bob.delete(f"/api/conversations/{conversation_id}"), 404, "not_found")
        feedback = await bob.post(f"/api/messages/{message_id}/feedbacks", json={"rating": "dislike"})
        assert_error(feedback, 404, "not_found", "Message Not Exists.")
        continued = await bob.post(
            "/api/chat-messages",
            json={
                "inputs": {},
                "query": "hi",
                "response_mode": "blocking",
                "conversation_id": conversation_id,
            },
        )
        assert_error(continued, 404, "not_found", not_found)
        speech = await bob.post("/api/text-to-audio", json={"message_id": message_id})
        assert speech.status_code in (400, 404), speech.text

        # A file one visitor uploaded cannot be attached by another.
        upload = await alice.post("/api/files/upload", files={"file": ("notes.txt", b"hello", "text/plain")})
        assert upload.status_code == 201, upload.text
        assert (await alice.get("/api/conversations")).json()["data"][0]["id"] == conversation_id


async def test_the_passport_travels_in_a_header_too_and_is_checked(web: RunningServer) -> None:
    async with browser(web) as page:
        token = (await page.get("/api/passport")).json()["access_token"]
    async with httpx.AsyncClient(base_url=web.base_url, timeout=30) as bare:
        headers = {"X-App-Code": PLAIN, "X-App-Passport": token}
        assert (await bare.get("/api/site", headers=headers)).status_code == 200
        bearer = {"X-App-Code": PLAIN, "Authorization": f"Bearer {token}"}
        assert (await bare.get("/api/site", headers=bearer)).status_code == 200

        missing_code = await bare.get("/api/site", headers={"X-App-Passport": token})
        assert_error(missing_code, 401, "unauthorized", "X-App-Code header is missing.")
        assert_error(await bare.get("/api/passport"), 401, "unauthorized", "X-App-Code header is missing.")
        no_token = await bare.get("/api/site", headers={"X-App-Code": PLAIN})
        assert_error(no_token, 401, "unauthorized", "App token is missing.")
        head, body, signature = token.split(".")
        forged = f"{head}.{body}.{signature[::-1]}"
        bad_signature = await bare.get("/api/site", headers={"X-App-Code": PLAIN, "X-App-Passport": forged})
        assert_error(bad_signature, 401, "unauthorized", "Invalid token signature.")
        garbage = await bare.get("/api/site", headers={"X-App-Code": PLAIN, "X-App-Passport": "x.y"})
        assert_error(garbage, 401, "unauthorized", "Invalid token.")
        # A passport is good for its own site only.
        elsewhere = await bare.get("/api/site", headers={"X-App-Code": SUPPORT, "X-App-Passport": token})
        assert_error(elsewhere, 401, "unauthorized", "Invalid token.")
        gone = await bare.get(
            "/api/site", headers={"X-App-Code": "NoSuchSite000000", "X-App-Passport": token}
        )
        assert_error(gone, 400, "bad_request", "Site URL is no longer valid.")
        # The cookie is not taken without the code header: another site's form cannot use it.
        jar = httpx.Cookies({f"passport-{PLAIN}": token})
        async with httpx.AsyncClient(base_url=web.base_url, cookies=jar) as other:
            refused = await other.post("/api/chat-messages", json={"inputs": {}, "query": "hi"})
            assert_error(refused, 401, "unauthorized", "X-App-Code header is missing.")

        status = await bare.get(
            "/api/login/status", params={"app_code": PLAIN}, headers={"X-App-Passport": token}
        )
        assert status.json() == {"logged_in": True, "app_logged_in": True}
        assert (await bare.get("/api/webapp/access-mode", params={"appCode": PLAIN})).json() == {
            "accessMode": "public"
        }
        features = (await bare.get("/api/system-features")).json()
        assert features["webapp_auth"]["enabled"] is False


async def test_a_site_switched_off_is_unavailable(
    web: RunningServer, make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with browser(web, CLOSED) as closed:
        assert_error(await closed.get("/api/passport"), 404, "not_found")
        shown = await closed.get(f"/chat/{CLOSED}")
        assert shown.status_code == 404 and "App unavailable" in shown.text
        assert_error(
            await closed.get("/api/passport", headers={"X-App-Code": "NoSuchSite000000"}), 404, "not_found"
        )
    async with browser(web) as page:
        await passport(page)
        assert (await page.get("/api/site")).status_code == 200
        # The operator switches the site off: the passports it gave out stop working.
        (tmp_path / "apps.yaml").write_text(yaml.safe_dump(web_apps(upstream, plain_enabled=False)))
        switched = await make_server()
        page.base_url = httpx.URL(switched.base_url)
        assert_error(await page.get("/api/site"), 400, "bad_request", "Site is disabled.")
        assert_error(await page.get("/api/passport"), 404, "not_found")
        assert (await page.get(f"/chat/{PLAIN}")).status_code == 404


async def test_pins_split_the_list_and_deleting_removes_a_conversation(web: RunningServer) -> None:
    async with browser(web) as page:
        await passport(page)
        first = (await stream_turn(page, "one"))[0]["conversation_id"]
        second = (await stream_turn(page, "two"))[0]["conversation_id"]
        assert (await page.patch(f"/api/conversations/{first}/pin")).json() == {"result": "success"}
        assert (await page.patch(f"/api/conversations/{first}/pin")).status_code == 200  # pinned twice

        async def ids(**params: str) -> list[str]:
            body = (await page.get("/api/conversations", params=params)).json()
            return [c["id"] for c in body["data"]]

        assert await ids(pinned="true") == [first]
        assert await ids(pinned="false") == [second]
        assert await ids() == [second, first]
        assert (await page.patch(f"/api/conversations/{first}/unpin")).json() == {"result": "success"}
        assert await ids(pinned="true") == []
        bad = await page.get("/api/conversations", params={"pinned": "maybe"})
        assert_error(bad, 400, "invalid_param")

        await page.patch(f"/api/conversations/{second}/pin")
        assert (await page.delete(f"/api/conversations/{second}")).status_code == 204
        assert await ids(pinned="true") == []
        assert_error(await page.delete(f"/api/conversations/{second}"), 404, "not_found")
        assert_error(await page.patch(f"/api/conversations/{random_id()}/pin"), 404, "not_found")


async def test_a_conversation_pinned_while_it_is_deleted_is_gone_or_pinned_never_a_failure(
    web: RunningServer,
) -> None:
    async with browser(web) as page:
        await passport(page)
        outcomes = []
        for n in range(6):
            conversation_id = (await stream_turn(page, f"turn {n}"))[0]["conversation_id"]
            pinned, deleted = await asyncio.gather(
                page.patch(f"/api/conversations/{conversation_id}/pin"),
                page.delete(f"/api/conversations/{conversation_id}"),
            )
            outcomes.append((pinned.status_code, deleted.status_code))
            if pinned.status_code == 404:
                assert pinned.json()["code"] == "not_found"
        listed = (await page.get("/api/conversations", params={"pinned": "true"})).json()["data"]
    assert set(outcomes) <= {(200, 204), (404, 204)}, outcomes
    assert listed == []


async def test_an_app_may_require_signed_user_ids(web: RunningServer) -> None:
    async with browser(web, SIGNED) as page:
        bare = await page.get("/api/passport", params={"user_id": "u-42"})
        assert_error(bare, 400, "invalid_param")
        now = int(time.time())
        signed = sign_user_id(EMBED_SECRET, "u-42", now)
        first = await passport(page, user_id=signed)
        again = await passport(page, user_id=sign_user_id(EMBED_SECRET, "u-42", now - 60))
        assert first["end_user_id"] == again["end_user_id"]
        stale = sign_user_id(EMBED_SECRET, "u-42", now - 2 * 86400)
        assert_error(await page.get("/api/passport", params={"user_id": stale}), 400, "invalid_param")
        forged = sign_user_id("another secret", "u-42", now)
        assert_error(await page.get("/api/passport", params={"user_id": forged}), 400, "invalid_param")
    async with browser(web) as page:
        # Without the setting a user_id is taken as it is, and names the same visitor each time.
        first = await passport(page, user_id="u-42")
        page.cookies.clear()
        assert (await passport(page, user_id="u-42"))["end_user_id"] == first["end_user_id"]
        page.cookies.clear()
        assert (await passport(page))["end_user_id"] != first["end_user_id"]


async def test_suggestions_after_an_answer_follow_the_feature(web: RunningServer) -> None:
    async with browser(web) as page:
        await passport(page)
        message_id = (await stream_turn(page))[-1]["message_id"]
        refused = await page.get(f"/api/messages/{message_id}/suggested-questions")
        assert_error(refused, 403, "app_suggested_questions_after_answer_disabled")


async def test_the_pages_and_their_assets(web: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=web.base_url, timeout=30) as client:
        page = await client.get(f"/chat/{PLAIN}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert f'data-code="{PLAIN}"' in page.text and 'data-mode="chat"' in page.text
        assert PLAIN_KEY not in page.text
        bot = await client.get(f"/chatbot/{PLAIN}")
        assert bot.status_code == 200 and 'data-mode="chatbot"' in bot.text
        script = await client.get("/web-static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "no-cache"
        for path in ("/embed.js", "/embed.min.js"):
            embed = await client.get(path)
            assert embed.status_code == 200 and "difyChatbotConfig" in embed.text
        assert (await client.get("/web-static/../settings.py")).status_code == 404
