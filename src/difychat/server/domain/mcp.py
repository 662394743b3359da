"""An app published as an MCP server: its ``mcp_server:`` block (contract §13).

The MCP servers an agent calls are declared elsewhere (``mcp_servers:``, ``domain/agent.py``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, StrictBool, field_validator, model_validator

from difychat.server.domain.features import Schema

SERVER_CODE = re.compile(r"^[A-Za-z0-9]{16}$")


class McpPublishing(Schema):
    """An app's ``mcp_server:`` block: the app as an MCP server with one tool (contract §13)."""

    enabled: StrictBool = False
    # The secret in the URL: 16 letters or digits. Derived from the server's secret key when unset.
    code: SecretStr | None = None
    # The tool's description (and the ``instructions`` of ``initialize``); the app's description when empty.
    description: str = ""
    # Descriptions of the tool's parameters, by input variable name.
    parameters: dict[str, str] = Field(default_factory=dict)
    # Refuse callers without an API key of this app (the URL alone is not enough).
    require_api_key: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _bare_bool(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SERVER_CODE.match(value.get_secret_value()):
            raise ValueError("code must be exactly 16 letters or digits")
        return value
