"""Error responses become the right exception, carrying status, code, message and body."""

from __future__ import annotations

import httpx
import pytest

import difychat
from difychat import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CompletionRequestError,
    DifyChat,
    DifyConfigError,
    InternalServerError,
    InvalidParamError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnsupportedMediaTypeError,
)
from difychat._errors import make_status_error
from tests.unit.client.client_fakes import FakeServer, error_body


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_param", InvalidParamError),
        (400, "completion_request_error", CompletionRequestError),
        (400, "app_unavailable", difychat.AppUnavailableError),
        (400, "not_chat_app", difychat.NotChatAppError),
        (400, "provider_not_initialize", difychat.ProviderNotInitializeError),
        (400, "provider_quota_exceeded", difychat.ProviderQuotaExceededError),
        (400, "model_currently_not_support", difychat.ModelNotSupportedError),
        (400, "bad_request", BadRequestError),
        (400, "something_new", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (403, "file_access_denied", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (404, "file_not_found", NotFoundError),
        (413, "file_too_large", PayloadTooLargeError),
        (415, "unsupported_audio_type", UnsupportedMediaTypeError),
        (429, "too_many_requests", RateLimitError),
        (429, "rate_limit_error", RateLimitError),
        (500, "internal_server_error", InternalServerError),
        (503, "whatever", InternalServerError),
        (405, "method_not_allowed", APIStatusError),
    ],
)
def test_status_and_code_choose_the_exception(
    client: DifyChat, server: FakeServer, status: int, code: str, expected: type[APIStatusError]
) -> None:
    server.add(error_body(status, code, f"message for {code}"))
    with pytest.raises(APIStatusError) as caught:
        client.with_options(max_retries=0).info()
    error = caught.value
    assert type(error) is expected
    assert error.status_code == status
    assert error.code == code
    assert error.message == f"message for {code}"
    assert error.body == {"code": code, "message": f"message for {code}", "status": status}
    assert error.response is not None and error.response.status_code == status
    assert error.in_stream is False


def test_generic_500_body_with_other_key_order(client: DifyChat, server: FakeServer) -> None:
    server.add(
        httpx.Response(500, json={"message": "Internal Server Error", "code": "unknown", "status": 500})
    )
    with pytest.raises(InternalServerError) as caught:
        client.with_options(max_retries=0).info()
    assert caught.value.code == "unknown"
    assert caught.value.message == "Internal Server Error"


def test_html_404_page_is_a_not_found_without_code(client: DifyChat, server: FakeServer) -> None:
    html = "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>"
    server.add(httpx.Response(404, text=html, headers={"content-type": "text/html"}))
    with pytest.raises(NotFoundError) as caught:
        client.delete_conversation("abc")
    assert caught.value.code is None
    assert caught.value.message == "Not Found"
    assert caught.value.body == html


def test_plain_text_error_body_becomes_the_message(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.Response(502, text="upstream connect error"))
    with pytest.raises(InternalServerError) as caught:
        client.with_options(max_retries=0).info()
    assert caught.value.message == "upstream connect error"


def test_concurrency_limit_sent_as_400_invalid_param_is_a_rate_limit(
    client: DifyChat, server: FakeServer
) -> None:
    message = (
        "Too many requests. Please try again later. "
        "The current maximum concurrent requests allowed for x is 1."
    )
    server.add(error_body(400, "invalid_param", message))
    with pytest.raises(RateLimitError) as caught:
        client.send_message("hi")
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_param"


def test_legacy_error_body_with_params_key(client: DifyChat, server: FakeServer) -> None:
    server.add(
        httpx.Response(400, json={"code": "invalid_param", "message": "query is required", "params": "query"})
    )
    with pytest.raises(InvalidParamError) as caught:
        client.send_message("")
    assert caught.value.body["params"] == "query"


def test_error_str_names_status_code_and_message() -> None:
    error = make_status_error(
        404, {"code": "not_found", "message": "Conversation Not Exists.", "status": 404}
    )
    assert str(error) == "404 not_found: Conversation Not Exists."
    assert "NotFoundError" in repr(error)


def test_connection_error_is_wrapped(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.ConnectError("connection refused"))
    with pytest.raises(APIConnectionError) as caught:
        client.send_message("hi")
    assert not isinstance(caught.value, APITimeoutError)
    assert "connection refused" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_timeout_is_wrapped_as_timeout_error(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.ReadTimeout("too slow"))
    with pytest.raises(APITimeoutError):
        client.send_message("hi")


def test_success_with_a_body_that_is_not_json_is_a_decode_error(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ResponseDecodeError):
        client.info()


def test_success_with_a_json_body_of_the_wrong_shape_is_a_decode_error(
    client: DifyChat, server: FakeServer
) -> None:
    server.add(httpx.Response(200, json={"data": "not a list"}))
    with pytest.raises(ResponseDecodeError):
        client.conversations()


def test_missing_api_key_fails_before_any_request(server: FakeServer) -> None:
    http = httpx.Client(transport=httpx.MockTransport(server))
    client = DifyChat(base_url="http://dify.test/v1", user="u", http_client=http)
    with pytest.raises(DifyConfigError, match="DIFY_API_KEY"):
        client.info()
    assert server.requests == []


def test_missing_user_fails_before_any_request(server: FakeServer) -> None:
    http = httpx.Client(transport=httpx.MockTransport(server))
    client = DifyChat("app-x", base_url="http://dify.test/v1", http_client=http)
    with pytest.raises(DifyConfigError, match="user"):
        client.send_message("hi")
    assert server.requests == []


def test_every_error_is_a_dify_error() -> None:
    for name in difychat.__all__:
        obj = getattr(difychat, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, difychat.DifyError), name
