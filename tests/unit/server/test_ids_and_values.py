"""The shared small rules: UUID ids (made and parsed) and their failures, and the true/false words."""

from __future__ import annotations

import os
import uuid

import pytest
from starlette.requests import Request

from difychat.server.api.ids import known_id, optional_id, path_id, query_id
from difychat.server.domain.values import parse_bool, parse_uuid
from difychat.server.errors import EndUserNotFound, InvalidParam, NotFound
from difychat.server.store.common import new_id

ID = "0b6f3c52-2c59-4b0e-9a55-2d3f5d1c2e11"


def test_parse_uuid_gives_the_canonical_form_or_none() -> None:
    assert parse_uuid(ID) == ID
    assert parse_uuid(ID.upper()) == ID  # as Dify's routes match ids: hyphenated, either case
    other_spellings = ("{" + ID + "}", "urn:uuid:" + ID, ID.replace("-", ""), ID.replace("-", "_"))
    for bad in ("", "nope", ID + "x", " " + ID, ID + "\n", None, 5, b"x", *other_spellings):
        assert parse_uuid(bad) is None, bad
    assert parse_uuid("\uff10" * 8 + ID[8:]) is None  # full-width digits are not hex digits


def test_parse_bool_uses_the_contracts_words_only() -> None:
    for word in ("true", "1", "yes", "on", " TRUE ", "On"):
        assert parse_bool(word) is True
    for word in ("false", "0", "no", "off", " Off "):
        assert parse_bool(word) is False
    for word in ("", "y", "t", "n", "f", "maybe", "2"):
        assert parse_bool(word) is None


def _request(**path_params: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "path_params": path_params})


def test_a_malformed_path_id_fails_as_the_resource_not_found_error() -> None:
    assert path_id(_request(conversation_id=ID.upper()), "conversation_id") == ID
    with pytest.raises(NotFound) as caught:
        path_id(
            _request(conversation_id="not-a-uuid"), "conversation_id", NotFound, "Conversation Not Exists."
        )
    assert (caught.value.status, caught.value.message) == (404, "Conversation Not Exists.")
    with pytest.raises(EndUserNotFound) as by_class:
        path_id(_request(end_user_id="x"), "end_user_id", EndUserNotFound)
    assert (by_class.value.code, by_class.value.message) == ("end_user_not_found", "End user not found.")
    with pytest.raises(InvalidParam):
        path_id(_request(job_id="x"), "job_id", InvalidParam, "The job does not exist.")


def test_body_and_query_ids_read_blank_as_absent_and_bad_as_400() -> None:
    assert optional_id(None, "last_id") is None
    assert optional_id("  ", "last_id") is None
    assert optional_id(f" {ID} ", "last_id") == ID
    with pytest.raises(ValueError, match="last_id must be a valid UUID"):
        optional_id("nope", "last_id")
    with pytest.raises(ValueError, match="first_id must be a valid UUID"):
        optional_id(5, "first_id")
    assert query_id("", "conversation_id") is None
    with pytest.raises(InvalidParam) as caught:
        query_id("abc", "conversation_id")
    assert caught.value.message == "conversation_id must be a valid UUID"


def test_known_id_raises_the_given_error() -> None:
    assert known_id(ID) == ID
    with pytest.raises(NotFound) as caught:
        known_id("nope", NotFound, "Message Not Exists.")
    assert caught.value.message == "Message Not Exists."


def test_new_ids_are_distinct_canonical_version_4_uuids() -> None:
    made = [new_id() for _ in range(5000)]  # several blocks of random bytes
    assert len(set(made)) == len(made)
    for value in made:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parse_uuid(value) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_never_repeats_its_parents_ids() -> None:
    new_id()  # random bytes now wait in the parent's block
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(reader)
        os.write(writer, ",".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
