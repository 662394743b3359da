from __future__ import annotations

from pathlib import Path

import pytest

from difychat.server.settings import ConfigFileError, expand_env, load_apps_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "apps.yaml"
    path.write_text(text)
    return path


def test_environment_references_are_expanded_with_defaults() -> None:
    env = {"KEY": "sk-1", "EMPTY": ""}
    assert expand_env({"a": ["${KEY}", "${NOPE:-fallback}", "${NOPE:-}", "${EMPTY}", "x${KEY}y"]}, env) == {
        "a": ["sk-1", "fallback", "", "", "xsk-1y"]
    }


def test_an_unset_variable_without_a_default_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "apps: [{name: Bot, model: {api_key: '${DIFYCHAT_TEST_NEVER_SET}'}}]")
    with pytest.raises(ConfigFileError) as caught:
        load_apps_file(path, {})
    message = str(caught.value)
    assert "DIFYCHAT_TEST_NEVER_SET" in message and '"Bot"' in message
    # With a value, or with a default, the same file loads.
    (app,) = load_apps_file(path, {"DIFYCHAT_TEST_NEVER_SET": "sk-x"})
    assert app.model.api_key is not None and app.model.api_key.get_secret_value() == "sk-x"


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
    assert app.model.api_key is not None and app.model.api_key.get_secret_value() == "sk-live"
    assert app.model.pricing is not None
    assert [v.field.variable for v in app.form_variables()] == ["name", "company"]
    assert "api_key" not in app.snapshot()["model"] and "api_keys" not in app.snapshot()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("apps: [{name: A}, {name: A}]", "duplicate app names"),
        (
            "apps: [{name: A, api_keys: [app-aaaaaaaaaaaa]}, {name: B, api_keys: [app-aaaaaaaaaaaa]}]",
            "more than one app",
        ),
        ("apps: [{name: A, api_keys: [sk-wrong]}]", "api_keys"),
        ("apps: [{name: A, user_input_form: [{slider: {variable: x}}]}]", "unknown user_input_form type"),
        ("apps: [{name: A, mode: workflow}]", "mode"),
        ("apps: [{name: A, model: {provider: opnai}}]", "provider"),
        ("apps: {name: A}", "expected a mapping"),
        ("apps: [", "not valid YAML"),
        ("apps: [{name: A}]\nsettings: {}", 'unknown key "settings"'),
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


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: Bot, pre_promt: hi}", 'app "Bot": unknown key "pre_promt" (did you mean "pre_prompt"?)'),
        ("{name: Bot, modle: {name: x}}", 'unknown key "modle" (did you mean "model"?)'),
        ("{name: Bot, model: {nmae: x}}", 'unknown key "model.nmae" (did you mean "model.name"?)'),
        (
            "{name: Bot, text_to_speech: {enabled: true, api_kye: sk-1}}",
            'unknown key "text_to_speech.api_kye"',
        ),
        ("{name: Bot, memory: {max_token: 10}}", 'did you mean "memory.max_tokens"?'),
        ("{name: Bot, file_upload: {image: {enabeld: true}}}", 'unknown key "file_upload.image.enabeld"'),
        (
            "{name: Bot, sensitive_word_avoidance: {config: {inputs_config: {enabled: true, preset: x}}}}",
            'unknown key "sensitive_word_avoidance.config.inputs_config.preset"',
        ),
        (
            "{name: Bot, user_input_form: [{text-input: {variable: a, lable: A}}]}",
            'unknown key "user_input_form[0].text-input.lable" '
            '(did you mean "user_input_form[0].text-input.label"?)',
        ),
        ("{name: Bot, conversation_variables: [{name: a, valu: 1}]}", '"conversation_variables[0].valu"'),
        ("{name: Bot, site: {titel: T}}", 'unknown key "site.titel" (did you mean "site.title"?)'),
        ("{name: Bot, zzzzzz: 1}", 'unknown key "zzzzzz"'),
    ],
)
def test_unknown_keys_are_refused_naming_the_app_and_the_closest_key(
    tmp_path: Path, entry: str, message: str
) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_apps_file(write(tmp_path, f"apps: [{entry}]"))
    assert message in str(caught.value)


def test_free_form_mappings_take_any_key(tmp_path: Path) -> None:
    (app,) = load_apps_file(
        write(
            tmp_path,
            "apps: [{name: Bot, model: {completion_params: {temperature: 0.1, any_vendor_option: 1}},"
            " speech_to_text: true, agent_mode: {tools: [{tool_name: t, icon: x, extra: 1}]}}]",
        )
    )
    assert app.model.completion_params == {"temperature": 0.1, "any_vendor_option": 1}


def test_validation_errors_never_print_the_value_that_failed(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_apps_file(write(tmp_path, "apps: [{name: Bot, api_keys: [sk-not-an-app-key-but-a-secret]}]"))
    assert "api_keys" in str(caught.value)
    assert "sk-not-an-app-key-but-a-secret" not in str(caught.value)
