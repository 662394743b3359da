from __future__ import annotations

from difychat.server.domain.apps import MemorySettings
from difychat.server.services.naming import fallback_title, initial_name, parse_title, prepare_query
from difychat.server.services.prompts import build_messages, fill_template, select_memory


def test_initial_name_cuts_at_twenty_characters_with_an_ellipsis() -> None:
    assert initial_name("") == "New conversation"
    assert initial_name("x" * 20) == "x" * 20
    assert initial_name("y" * 21) == "y" * 20 + "\u2026"


def test_titles_come_from_the_json_answer_or_fall_back_to_the_query() -> None:
    chatty = 'Sure! {"Language Type": "en", "Your Reasoning": "..", "Your Output": " Refund help "} done'
    assert parse_title(chatty, "q") == "Refund help"
    assert parse_title("no json here", "the query") == "the query"
    assert parse_title("   ", "the query") == ""
    assert parse_title('{"Your Output": "' + "t" * 80 + '"}', "q") == "t" * 75 + "..."
    assert fallback_title("z" * 51) == "z" * 47 + "..."


def test_long_queries_are_shortened_for_the_title_prompt() -> None:
    prepared = prepare_query("a\nb" + "c" * 2100)
    assert prepared.startswith("a b") and "...[TRUNCATED]..." in prepared and len(prepared) == 617


def test_templates_fill_known_variables_and_blank_unknown_ones() -> None:
    filled = fill_template("Hi {{name}}, from {{company}}{{missing}}.", {"name": "Ada", "company": None})
    assert filled == "Hi Ada, from ."


def test_memory_keeps_the_newest_turns_that_fit_oldest_first() -> None:
    turns = [("q3", "a" * 40), ("q2", "a" * 40), ("q1", "a" * 40)]  # newest first, about 11 tokens each
    assert select_memory(turns, MemorySettings(max_tokens=25)) == [("q2", "a" * 40), ("q3", "a" * 40)]
    assert select_memory(turns, MemorySettings(max_messages=1)) == [("q3", "a" * 40)]
    assert select_memory(turns, MemorySettings(enabled=False)) == []


def test_messages_put_system_history_and_query_in_order() -> None:
    messages = build_messages("sys", [("q1", "a1"), ("q2", "")], "now")
    assert [(m.role, m.content) for m in messages] == [
        ("system", "sys"),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("user", "now"),
    ]
    assert build_messages("  ", [], "now")[0].role == "user"


def test_enrichers_add_typed_parts_around_the_query_in_order() -> None:
    from difychat.server.providers.prompt import DocumentPart, ImagePart, TextPart
    from difychat.server.services.files import PreparedFiles
    from difychat.server.services.prompts import ConversationMemory, PromptDraft

    draft = PromptDraft("sys", "what is in it?")
    files = PreparedFiles(
        images=[ImagePart(url="https://x/a.png")], documents=[DocumentPart("a.txt", "words")]
    )
    for enricher in (ConversationMemory([("q1", "a1")]), files):
        enricher.enrich(draft)
    messages = draft.messages()
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1].content == (
        DocumentPart("a.txt", "words"),
        TextPart("what is in it?"),
        ImagePart(url="https://x/a.png"),
    )
    # Without parts the query stays plain text (the cheap path every plain turn takes).
    assert PromptDraft("", "hi").messages()[-1].content == "hi"
