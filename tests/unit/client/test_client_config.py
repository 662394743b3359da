"""Configuration: environment, defaults, per-call keys, copies, closing, public surface."""

from __future__ import annotations

import subprocess
import sys
import types

import httpx
import pytest

import difychat
from difychat import AsyncDifyChat, DifyChat
from tests.unit.client.client_fakes import FakeServer

INFO = {"name": "x"}


def mock_client(server: FakeServer) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(server))


def test_environment_supplies_key_and_base_url(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFY_API_KEY", "app-from-env")
    monkeypatch.setenv("DIFY_BASE_URL", "http://env.test/v1/")
    server.add(httpx.Response(200, json=INFO))
    DifyChat(http_client=mock_client(server)).info()
    assert str(server.last.url) == "http://env.test/v1/info"
    assert server.last.headers["authorization"] == "Bearer app-from-env"


def test_arguments_beat_the_environment(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFY_API_KEY", "app-from-env")
    monkeypatch.setenv("DIFY_BASE_URL", "http://env.test/v1")
    server.add(httpx.Response(200, json=INFO))
    DifyChat("app-arg", base_url="http://arg.test/v1", http_client=mock_client(server)).info()
    assert str(server.last.url) == "http://arg.test/v1/info"
    assert server.last.headers["authorization"] == "Bearer app-arg"


def test_default_base_url_is_dify_cloud() -> None:
    assert DifyChat("app-x").base_url == "https://api.dify.ai/v1"


def test_per_call_api_key_serves_another_app(server: FakeServer) -> None:
    server.default = httpx.Response(200, json=INFO)
    client = DifyChat(base_url="http://t/v1", http_client=mock_client(server))  # no default key at all
    client.info(api_key="app-one")
    client.info(api_key="app-two")
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer app-one", "Bearer app-two"]


def test_with_options_copies_without_changing_the_original(server: FakeServer) -> None:
    server.default = httpx.Response(200, json=INFO)
    client = DifyChat("app-a", base_url="http://t/v1", user="alice", http_client=mock_client(server))
    other = client.with_options(api_key="app-b", user="bob", timeout=5.0)
    assert (client.api_key, client.user) == ("app-a", "alice")
    assert (other.api_key, other.user, other.base_url) == ("app-b", "bob", "http://t/v1")
    assert other.timeout == httpx.Timeout(5.0)
    other.info()
    assert server.last.headers["authorization"] == "Bearer app-b"
    assert server.last.extensions["timeout"]["read"] == 5.0


def test_with_options_can_clear_the_default_user() -> None:
    client = DifyChat("app-a", user="alice")
    assert client.with_options(user=None).user is None
    assert client.with_options().user == "alice"


def test_closing_a_copy_keeps_the_shared_pool_open(server: FakeServer) -> None:
    server.default = httpx.Response(200, json=INFO)
    client = DifyChat("app-a", base_url="http://t/v1")
    client._http = mock_client(server)
    copy = client.with_options(max_retries=0)
    copy.close()
    client.info()  # still usable
    client.close()
    assert client._http.is_closed


def test_a_passed_in_http_client_is_not_closed(server: FakeServer) -> None:
    http = mock_client(server)
    with DifyChat("app-a", http_client=http):
        pass
    assert not http.is_closed
    http.close()


def test_own_pool_is_closed_by_the_context_manager() -> None:
    with DifyChat("app-a") as client:
        pass
    assert client._http.is_closed


@pytest.mark.anyio
async def test_async_own_pool_is_closed_by_the_context_manager() -> None:
    async with AsyncDifyChat("app-a") as client:
        pass
    assert client._http.is_closed


def test_negative_max_retries_is_rejected() -> None:
    with pytest.raises(ValueError):
        DifyChat("app-a", max_retries=-1)


def test_headers_identify_the_client_and_ask_for_json(server: FakeServer) -> None:
    server.add(httpx.Response(200, json=INFO))
    DifyChat(
        "app-a",
        base_url="http://t/v1",
        default_headers={"X-Trace-Id": "abc"},
        http_client=mock_client(server),
    ).info()
    headers = server.last.headers
    assert headers["user-agent"].startswith("difychat-python/")
    assert headers["accept"] == "application/json"
    assert headers["x-trace-id"] == "abc"
    assert "content-type" not in headers  # a bodyless GET


def test_the_api_key_does_not_leak_into_repr() -> None:
    assert "app-secret" not in repr(DifyChat("app-secret"))


def test_all_lists_exactly_the_public_names() -> None:
    # Subpackages (types, cli, server) appear as attributes once imported; they are not re-exports.
    # The client's names load on first use: dir() lists them, getattr() loads them.
    public = {
        name
        for name in dir(difychat)
        if not name.startswith("_") and not isinstance(getattr(difychat, name), types.ModuleType)
    }
    assert set(difychat.__all__) - {"__version__"} == public
    assert difychat.__version__ == difychat._version.__version__


def test_importing_the_client_never_imports_the_server() -> None:
    code = (
        "import sys, difychat, difychat.types; "
        "difychat.DifyChat('app-x'); difychat.AsyncDifyChat('app-x'); "
        "bad = [m for m in sys.modules if m.startswith('difychat.server')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
