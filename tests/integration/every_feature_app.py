"""An app with every feature of the chat API switched on, for tests that walk every endpoint
(the NUL and id tests, the fuzz): its form has each input type, files of any kind may be attached,
speech both ways, suggested questions, annotation reply and conversation variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import apps_file

EVERY_FEATURE_KEY = "app-everyfeatureeveryfeatur1"

VARIABLES: list[dict[str, Any]] = [
    {"name": "customer_name", "value_type": "string", "value": "John", "description": "Who is asking"},
    {"name": "order_count", "value_type": "integer", "value": 2},
    {"name": "discount", "value_type": "number", "value": 0.5},
    {"name": "is_vip", "value_type": "boolean", "value": True},
    {"name": "profile", "value_type": "object", "value": {"tier": "gold"}},
    {"name": "tags", "value_type": "array[string]", "value": ["a", "b"]},
]


def every_feature_app(upstream: FakeUpstream) -> dict[str, Any]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    return {
        "name": "Every feature",
        "api_keys": [EVERY_FEATURE_KEY],
        "model": model,
        "opening_statement": "Hello {{name}}",
        "user_input_form": [
            {"text-input": {"variable": "name", "label": "Name", "required": False, "max_length": 48}},
            {"paragraph": {"variable": "notes", "label": "Notes", "required": False}},
            {
                "select": {
                    "variable": "tone",
                    "label": "Tone",
                    "required": False,
                    "options": ["formal", "casual"],
                }
            },
            {"number": {"variable": "age", "label": "Age", "required": False}},
            {"checkbox": {"variable": "vip", "label": "VIP", "required": False}},
        ],
        "file_upload": {
            "enabled": True,
            "allowed_file_types": ["image", "document", "audio", "video", "custom"],
            "allowed_file_extensions": [".dat"],
            "allowed_file_upload_methods": ["remote_url", "local_file"],
            "number_limits": 3,
        },
        "speech_to_text": {"enabled": True, "model": "fake-whisper"},
        "text_to_speech": {"enabled": True, "voice": "nova", "language": "en-US", "autoPlay": "disabled"},
        "suggested_questions_after_answer": {"enabled": True},
        "embedding_model": {"name": "fake-embedding"},
        "conversation_variables": VARIABLES,
    }


def write_apps_file(path: Path, upstream: FakeUpstream) -> None:
    """The integration tests' apps file with the every-feature app added, at ``path``."""
    data = apps_file(upstream)
    data["apps"].append(every_feature_app(upstream))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
