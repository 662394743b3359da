from __future__ import annotations

from decimal import Decimal

from difychat.server.domain.usage import Price, Usage, decimal_str, estimate_tokens


def test_prices_are_fixed_point_strings_rounded_to_seven_places() -> None:
    price = Price(Decimal("0.15"), Decimal("0.000001"), "USD")
    usage = Usage(prompt_tokens=3, completion_tokens=0, prompt_price=price, completion_price=price).to_wire()
    assert usage["prompt_price"] == "0.0000005"  # 0.00000045 rounds half up
    assert usage["completion_price"] == "0.0000000"  # never "0E-7"
    assert usage["total_price"] == "0.0000005"
    assert usage["total_tokens"] == 3


def test_unpriced_usage_reports_zero_prices_as_dify_does() -> None:
    usage = Usage(prompt_tokens=4, completion_tokens=2).to_wire()
    assert [usage[k] for k in ("prompt_unit_price", "prompt_price", "total_price")] == ["0.0", "0.0", "0.0"]
    assert usage["time_to_first_token"] is None
    # The same keys in the same order as a priced usage, every price "0.0", currency USD.
    priced = Usage(1, 1, Price(Decimal("0.001"), Decimal("0.001"), "EUR"), None).to_wire()
    assert list(usage) == list(priced)
    prices = [v for k, v in usage.items() if "price" in k]
    assert prices == ["0.0"] * 7 and usage["currency"] == "USD" and usage["total_tokens"] == 6


def test_decimal_text_never_uses_exponents() -> None:
    assert decimal_str(Decimal("0E-7")) == "0.0000000"
    assert decimal_str(Decimal("1E+2")) == "100"


def test_token_estimate_counts_ascii_by_fours_and_other_characters_singly() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("你好") == 2
