"""The ``time`` and ``calculator`` built-ins, at fixed instants and against hostile expressions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from difychat.server.net import AllowList, GuardedClient
from difychat.server.tools.base import TextOutput, ToolContext, ToolError, ToolOutput
from difychat.server.tools.builtin import definition
from difychat.server.tools.builtin.calculator import MAX_BITS, CalculationError, evaluate
from difychat.server.tools.parameters import arguments, form_values

pytestmark = pytest.mark.anyio

NEW_YEAR = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def context(now: dt.datetime = NEW_YEAR) -> ToolContext:
    # The time tools never send a request; the client is never opened.
    return ToolContext(http=GuardedClient(AllowList()), clock=lambda: now)


async def run(
    provider: str,
    tool: str,
    model_args: Mapping[str, Any] | None = None,
    tool_parameters: Mapping[str, Any] | None = None,
) -> str:
    found = definition(provider)
    assert found is not None
    spec = found.spec(tool)
    assert spec is not None
    built = found.build().tool(tool)
    assert built is not None
    merged = arguments(spec, form_values(spec, tool_parameters or {}), model_args or {})
    outputs: Sequence[ToolOutput] = await built.invoke(merged, context())
    assert len(outputs) == 1 and isinstance(outputs[0], TextOutput)
    return outputs[0].text


async def test_current_time_defaults_to_utc_and_the_contract_format() -> None:
    assert await run("time", "current_time", tool_parameters={"format": "", "timezone": "UTC"}) == (
        "2025-01-01 12:00:00"
    )
    tokyo = await run(
        "time", "current_time", tool_parameters={"timezone": "Asia/Tokyo", "format": "%H:%M %Z"}
    )
    assert tokyo == "21:00 JST"


async def test_current_time_with_a_zone_outside_the_options_is_refused_at_load() -> None:
    with pytest.raises(Exception, match="timezone must be one of"):
        await run("langgenius/time/time", "current_time", tool_parameters={"timezone": "Mars/Base"})


async def test_timezone_conversion() -> None:
    converted = await run(
        "time",
        "timezone_conversion",
        {"current_time": "2025-1-1 8:00:00", "current_timezone": "Europe/Berlin", "target_timezone": "UTC"},
    )
    assert converted == "2025-01-01 07:00:00"
    # The contract's defaults: Asia/Shanghai to Asia/Tokyo.
    assert await run("time", "timezone_conversion", {"current_time": "2025-06-01 10:00:00"}) == (
        "2025-06-01 11:00:00"
    )
    with pytest.raises(ToolError) as bad:
        await run("time", "timezone_conversion", {"current_time": "yesterday"})
    assert bad.value.observation().startswith("tool invoke error: Invalid time")
    with pytest.raises(ToolError, match="Invalid timezone: Nowhere/City"):
        await run(
            "time",
            "timezone_conversion",
            {"current_time": "2025-1-1 0:0:0", "target_timezone": "Nowhere/City"},
        )


async def test_timestamps_both_ways() -> None:
    assert await run("time", "localtime_to_timestamp", {"localtime": "2025-01-01 20:00:00"}) == "1735732800"
    assert await run(
        "time", "localtime_to_timestamp", {"localtime": "2025-01-01 00:00:00", "timezone": "UTC"}
    ) == ("1735689600")
    assert await run("time", "timestamp_to_localtime", {"timestamp": 1735689600}) == "2025-01-01 08:00:00"
    assert await run("time", "timestamp_to_localtime", {"timestamp": "1735689600", "timezone": "UTC"}) == (
        "2025-01-01 00:00:00"
    )
    with pytest.raises(ToolError, match="Invalid timestamp"):
        await run("time", "timestamp_to_localtime", {"timestamp": 10**20})


async def test_weekday() -> None:
    assert (
        await run("time", "weekday", {"year": 2025, "month": 1, "day": 1}) == "January 1, 2025 is Wednesday."
    )
    assert await run("time", "weekday", {"year": "2024", "month": "2", "day": "29"}) == (
        "February 29, 2024 is Thursday."
    )
    assert await run("time", "weekday", {"year": 2025, "month": 2, "day": 30}) == (
        "Invalid date: Year 2025, Month 2, Day 30."
    )
    assert await run("time", "weekday", {"year": 2025, "month": 1.5, "day": 1}) == (
        "Invalid date: Year 2025, Month 1.5, Day 1."
    )


# --- calculator -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(2 + 3) * sqrt(16)", "20"),
        ("2^10", "1024"),
        ("0.1 + 0.2", "0.3"),
        ("7 // 2 + 7 % 2", "4"),
        ("2 ** -2", "0.25"),
        ("round(pi, 4)", "3.1416"),
        ("log(8, 2) + log10(1000)", "6"),
        ("max(3, 9, 4) - min(3, 9, 4)", "6"),
        ("factorial(20)", "2432902008176640000"),
        ("10 ** 300 + 1", "1" + "0" * 299 + "1"),
        ("+".join(["1"] * 400), "400"),
        ("-(-(-1))", "-1"),
    ],
)
async def test_the_calculator_evaluates_arithmetic(expression: str, expected: str) -> None:
    assert await run("calculator", "calculator", {"expression": expression}) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("9 ** 9 ** 9 ** 9", "bits"),
        ("2 ** 100000000", "bits"),
        ("pow(10, 10 ** 6)", "bits"),
        ("factorial(100000)", "factorial() takes numbers up to"),
        ("factorial(450) * factorial(450)", "bits"),
        ("1e308 * 10", "not a finite number"),
        ("exp(100000)", "too large"),
        ("1 / 0", "division by zero"),
        ("-" * 500 + "1", "nested more than"),
        ("abs(" * 120 + "1" + ")" * 120, "nested more than"),
        ("1" * 2000, "longer than"),
        ("__import__('os').system('true')", "not allowed"),
        ("__import__('os')", "unknown function '__import__'"),
        ("().__class__.__bases__", "attribute access"),
        ("(1).real", "attribute access"),
        ("math.sqrt(4)", "attribute access"),
        ("x + 1", "unknown name 'x'"),
        ("open", "unknown name 'open'"),
        ("[1, 2][0]", "not allowed"),
        ("'a' * 3", "is not a number"),
        ("True + 1", "is not a number"),
        ("1j * 1j", "is not a number"),
        ("(lambda: 1)()", "a lambda is not allowed"),
        ("[x for x in range(10)]", "not allowed"),
        ("sqrt(x=4)", "positional"),
        ("sqrt(*[4])", "positional"),
        ("1 if 1 else 2", "not allowed"),
        ("1 < 2", "not allowed"),
        ("1 << 10000", "not allowed"),
        ("sqrt(-1)", "math domain error"),
        ("import os", "not valid"),
        ("", "required"),
    ],
)
async def test_the_calculator_refuses_hostile_and_huge_input(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError) as refused:
        await run("calculator", "calculator", {"expression": expression})
    assert reason in str(refused.value)
    assert refused.value.observation().startswith("tool invoke error: ")


def test_the_largest_allowed_integer_is_computed_and_one_bit_more_is_not() -> None:
    assert evaluate(f"2 ** {MAX_BITS - 1}") == 2 ** (MAX_BITS - 1)
    with pytest.raises(CalculationError):
        evaluate(f"2 ** {MAX_BITS}")
