from __future__ import annotations

from pathlib import Path

import pytest

from difychat.server.settings import ConfigFileError, expand_env, load_apps_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "apps.yaml"
    path.write_text(text)
    return path


def test_environment_references_are_expanded_with_defaults() -> None:
    env = {"KEY": "sk-1"}
    assert expand_env({"a": ["${KEY}", "${NOPE:-fallback}", "${NOPE}"]}, env) == {"a": ["sk-1", "fallback", ""]}


def test_the_issue_example_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
apps:
  - name: Support Bot
    mode: chat
    api_keys: [app-fixedkeyfortests000001]
    model:
      provider: openai
      name: gpt-4o-mini
      base_url: http://127.0.0.1:9000/v1
      api_key: ${TEST_KEY}
      completion_params: {temperature: 0.7, max_tokens: 512}
      pricing: {input: "0.15", output: "0.60", unit: "0.000001", currency: USD}
    pre_prompt: "You help customers of {{company}}."
    opening_statement: "Hi {{name}}, how can I help?"
    suggested_questions: ["What can you do?"]
    user_input_form:
      - text-input: {variable: name, label: Name, required: false, max_length: 48}
      - select: {variable: company, label: Company, required: true, options: [Acme, Globex]}
""",
    )
    (app,) = load_apps_file(path, {"TEST_KEY": "sk-live"})
    assert app.model.api_key == "sk-live" and app.model.pricing is not None
    assert [v.field.variable for v in app.form_variables()] == ["name", "company"]
    assert "api_key" not in app.snapshot()["model"] and "api_keys" not in app.snapshot()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("apps: [{name: A}, {name: A}]", "duplicate app names"),
        ("apps: [{name: A, api_keys: [app-aaaaaaaaaaaa]}, {name: B, api_keys: [app-aaaaaaaaaaaa]}]", "more than one app"),
        ("apps: [{name: A, api_keys: [sk-wrong]}]", "api_keys"),
        ("apps: [{name: A, user_input_form: [{slider: {variable: x}}]}]", "unknown user_input_form type"),
        ("apps: [{name: A, mode: workflow}]", "mode"),
        ("apps: [{name: A, model: {provider: opnai}}]", "provider"),
        ("apps: {name: A}", "expected a mapping"),
        ("apps: [", "not valid YAML"),
    ],
)
def test_a_broken_apps_file_is_refused_with_a_clear_message(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_apps_file(write(tmp_path, text))
    assert fragment in str(caught.value)


def test_stored_snapshots_with_options_no_longer_known_still_load() -> None:
    from difychat.server.domain.apps import AppConfig

    snapshot = AppConfig(name="A").snapshot()
    snapshot["model"]["retired_option"] = 1
    snapshot["memory"]["retired_option"] = 2
    restored = AppConfig.from_snapshot(snapshot, "A")
    assert restored.model.name == "gpt-4o-mini" and restored.memory.max_tokens == 2000
