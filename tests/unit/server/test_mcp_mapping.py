"""MCP's pure parts: inputSchema to parameters, results to output parts, the transport rule, the
published app's tool, its URL code and caller sessions, and ``difychat mcp url``."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import types

from difychat.cli import main
from difychat.server.domain.apps import AppConfig
from difychat.server.services import mcp_server
from difychat.server.services.mcp_server import app_code, server_code, tool_of
from difychat.server.tools.base import BlobOutput, JsonOutput, LinkOutput, TextOutput, ToolError
from difychat.server.tools.mcp_content import result_outputs, text_outputs
from difychat.server.tools.mcp_schema import parameters_of
from difychat.server.tools.mcp_session import McpEndpoint

# --- inputSchema -> parameters -------------------------------------------------------------------


def test_parameters_from_an_input_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "description": "How many"},
            "ratio": {"type": ["number", "null"]},
            "maybe": {"type": ["null", "string"]},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "bare_enum": {"enum": ["x"]},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}], "default": None},
            "flag": {"type": "boolean", "default": True},
            "point": {"$ref": "#/$defs/Point"},
            "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
            "untyped": {},
        },
        "required": ["count", "point"],
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
    }
    params = {p.name: p for p in parameters_of(schema)}
    assert list(params) == list(schema["properties"])
    assert all(p.form == "llm" for p in params.values())
    assert (params["count"].type, params["count"].required, params["count"].description) == (
        "number",
        True,
        "How many",
    )
    assert params["ratio"].type == "number" and params["maybe"].type == "string"
    assert (params["kind"].type, params["kind"].options) == ("select", ("a", "b"))
    assert (params["bare_enum"].type, params["bare_enum"].options) == ("select", ("x",))
    assert params["note"].type == "string" and params["note"].default is None
    assert (params["flag"].type, params["flag"].default) == ("boolean", True)
    # $refs are inlined: the schema the model is sent stands on its own.
    assert params["point"].type == "object" and params["point"].required
    assert params["point"].schema == {
        "type": "object",
        "properties": {"x": {"type": "number"}},
        "required": ["x"],
    }
    assert params["points"].schema == {
        "type": "array",
        "items": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
    }
    assert params["untyped"].type == "string" and params["untyped"].schema is None


def test_a_schema_without_properties_has_no_parameters() -> None:
    assert parameters_of({"type": "object"}) == ()
    assert parameters_of({"type": "object", "properties": []}) == ()


def test_a_recursive_schema_does_not_loop() -> None:
    schema = {
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    (tree,) = parameters_of(schema)
    assert tree.type == "object"


# --- results -> output parts ---------------------------------------------------------------------


def result(*content: Any, **fields: Any) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), **fields)


def test_json_looking_text() -> None:
    assert text_outputs('{"a": 1}') == [JsonOutput({"a": 1})]
    assert text_outputs('  [{"a": 1}, {"b": 2}]\n') == [JsonOutput({"a": 1}), JsonOutput({"b": 2})]
    assert text_outputs("[1, 2]") == [TextOutput("[1, 2]")]
    assert text_outputs('[{"a": 1}, 2]') == [TextOutput('[{"a": 1}, 2]')]
    assert text_outputs("[]") == [TextOutput("[]")]
    assert text_outputs("{nope}") == [TextOutput("{nope}")]
    assert text_outputs('{"a": 1} and more') == [TextOutput('{"a": 1} and more')]
    assert text_outputs("plain") == [TextOutput("plain")]


def test_content_blocks() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    mapped = result_outputs(
        result(
            types.TextContent(type="text", text="hello"),
            types.ImageContent(type="image", data=png, mime_type="image/png"),
            types.AudioContent(type="audio", data=base64.b64encode(b"RIFF").decode(), mime_type="audio/wav"),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(
                    uri="file:///dir/report%201.pdf", blob=png, mime_type="application/pdf"
                ),
            ),
            types.ResourceLink(
                type="resource_link", uri="https://example.com/a.csv", name="a", mime_type="text/csv"
            ),
        ),
        structured=False,
        max_bytes=1 << 20,
    )
    assert mapped == [
        TextOutput("hello"),
        BlobOutput(b"\x89PNG", "image/png"),
        BlobOutput(b"RIFF", "audio/wav"),
        BlobOutput(b"\x89PNG", "application/pdf", "report 1.pdf"),
        LinkOutput("https://example.com/a.csv", "text/csv"),
    ]


def test_structured_content_only_when_the_tool_declares_an_output_schema() -> None:
    answer = result(types.TextContent(type="text", text="21"), structured_content={"t": 21})
    assert result_outputs(answer, structured=False, max_bytes=100) == [TextOutput("21")]
    assert result_outputs(answer, structured=True, max_bytes=100) == [
        TextOutput("21"),
        JsonOutput({"t": 21}, for_model=False),
    ]


def test_is_error_is_a_tool_error() -> None:
    failed = result(types.TextContent(type="text", text="bad input"), is_error=True)
    with pytest.raises(ToolError) as raised:
        result_outputs(failed, structured=False, max_bytes=100)
    assert raised.value.observation() == "tool invoke error: bad input"
    with pytest.raises(ToolError) as raised:
        result_outputs(result(is_error=True), structured=False, max_bytes=100)
    assert raised.value.observation() == "tool invoke error: the tool reported an error without a message"


def test_output_is_bounded() -> None:
    big = result(
        types.TextContent(type="text", text="é" * 10),
        types.ImageContent(type="image", data=base64.b64encode(b"x" * 50).decode(), mime_type="image/png"),
    )
    text, blob = result_outputs(big, structured=False, max_bytes=15)
    assert isinstance(text, TextOutput) and text.text.startswith("é" * 7 + "\n[output truncated")
    assert blob == TextOutput("[a image/png file of 50 bytes was left out: larger than the limit]")


# --- transports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "transport", "kinds"),
    [
        ("https://h/x/mcp", "auto", ("streamable_http",)),
        ("https://h/x/sse", "auto", ("sse",)),
        ("https://h/x/mcp/", "auto", ("streamable_http", "sse")),
        ("https://h/", "auto", ("streamable_http", "sse")),
        ("https://h/x/mcp", "sse", ("sse",)),
        (None, "stdio", ("stdio",)),
    ],
)
def test_the_transport_follows_the_url(url: str | None, transport: Any, kinds: tuple[str, ...]) -> None:
    assert McpEndpoint(identifier="s", transport=transport, url=url).kinds() == kinds


def test_an_endpoint_never_shows_its_secrets() -> None:
    endpoint = McpEndpoint(
        identifier="s",
        transport="auto",
        url="https://u:p@h/mcp?token=t",
        headers=(("Authorization", "Bearer x"),),
    )
    assert "token" not in repr(endpoint) and "Bearer" not in repr(endpoint)


# --- the published app ---------------------------------------------------------------------------


def config(**fields: Any) -> AppConfig:
    return AppConfig.model_validate({"name": "Helper", "description": "Helps", **fields})


def test_the_tool_of_a_published_app() -> None:
    app = config(
        user_input_form=[
            {"select": {"variable": "lang", "label": "Language", "options": ["en", "fr"], "required": True}},
            {"external_data_tool": {"variable": "ext", "label": "External"}},
        ],
        mcp_server={"enabled": True, "parameters": {"lang": "The answer's language"}},
    )
    tool = tool_of(app)
    assert tool["name"] == "Helper" and tool["description"] == "Helps"
    assert list(tool["inputSchema"]["properties"]) == ["query", "lang", "conversation_id"]
    assert tool["inputSchema"]["properties"]["lang"] == {
        "description": "The answer's language",
        "type": "string",
        "enum": ["en", "fr"],
    }
    assert tool["inputSchema"]["required"] == ["query", "lang"]


def test_a_form_variable_named_conversation_id_wins() -> None:
    app = config(user_input_form=[{"text-input": {"variable": "conversation_id", "label": "Ticket"}}])
    properties = tool_of(app)["inputSchema"]["properties"]
    assert properties["conversation_id"] == {"description": "", "type": "string"}


def test_codes() -> None:
    code = server_code("secret", "Helper")
    assert len(code) == 16 and code.isalnum() and code.isascii()
    assert server_code("secret", "Helper") == code
    assert server_code("other secret", "Helper") != code and server_code("secret", "Other") != code
    assert app_code("secret", config(mcp_server={"enabled": True})) == code
    assert app_code("secret", config(mcp_server={"code": "Given16CharsCode"})) == "Given16CharsCode"
    with pytest.raises(ValueError, match="exactly 16 letters or digits"):
        config(mcp_server={"code": "short"})
    # The code is a secret: never in a stored snapshot.
    assert "Given16CharsCode" not in str(config(mcp_server={"code": "Given16CharsCode"}).snapshot())


def test_sessions_carry_the_client() -> None:
    session = mcp_server._session_of("Claude Desktop", "0.9 β")
    assert session.isascii() and all(0x21 <= ord(c) <= 0x7E for c in session)
    assert mcp_server._client_of(session) == ("Claude Desktop", "0.9 β")
    assert mcp_server._session_of("a", "1") != mcp_server._session_of("a", "1")
    for broken in (None, "", "nodot", "x.!!!", "x." + base64.urlsafe_b64encode(b'{"a": 1}').decode()):
        assert mcp_server._client_of(broken) is None


# --- difychat mcp url ----------------------------------------------------------------------------


def test_the_cli_prints_the_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apps = tmp_path / "apps.yaml"
    apps.write_text(
        yaml.safe_dump(
            {
                "apps": [
                    {"name": "Given", "mcp_server": {"enabled": True, "code": "Given16CharsCode"}},
                    {"name": "Derived", "mcp_server": True},
                    {"name": "Private"},
                ]
            }
        )
    )
    common = ["--config", str(apps), "--data-dir", str(tmp_path / "data")]
    assert main(["mcp", "url", "--app", "Given", "--base-url", "https://chat.example.com/", *common]) == 0
    assert capsys.readouterr().out == "https://chat.example.com/mcp/server/Given16CharsCode/mcp\n"
    # A derived code needs the server's secret key: the command never makes one (the server does).
    assert main(["mcp", "url", "--app", "Derived", *common]) == 1
    assert "no secret key yet" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("a-secret-the-server-made\n")
    assert main(["mcp", "url", "--app", "Derived", *common]) == 0
    secret = "a-secret-the-server-made"
    assert (
        capsys.readouterr().out == f"http://127.0.0.1:5001/mcp/server/{server_code(secret, 'Derived')}/mcp\n"
    )
    assert main(["mcp", "url", "--app", "Private", *common]) == 1
    assert "not published" in capsys.readouterr().err
    assert main(["mcp", "url", "--app", "Nope", *common]) == 1


# --- the mcp extra -------------------------------------------------------------------------------


def test_the_server_does_not_import_the_mcp_client() -> None:
    code = (
        "import sys, difychat.server.app, difychat.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mcp'))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_mcp_servers_without_the_extra_are_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from difychat.server import app as composition
    from difychat.server.settings import ConfigFileError, Settings

    monkeypatch.setitem(sys.modules, "difychat.server.tools.mcp", None)  # as if mcp were not installed
    uses = config(mcp_servers=[{"server_identifier": "s", "server_url": "https://h/mcp"}])
    settings = Settings(config=tmp_path / "apps.yaml", data_dir=tmp_path)
    assert composition._mcp_servers(settings, [config()]) is None
    with pytest.raises(
        ConfigFileError, match=r"mcp_servers \(in Helper\) need the MCP client: pip install 'difychat\[mcp\]'"
    ):
        composition._mcp_servers(settings, [uses])
