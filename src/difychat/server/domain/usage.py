"""Token usage and its price, as Dify reports it: prices are fixed-point decimal strings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_SEVEN_PLACES = Decimal("0.0000001")
_NO_PRICE = "0.0"


def decimal_str(value: Decimal) -> str:
    """Fixed-point text, never exponent notation (``0E-7`` becomes ``0.0000000``)."""
    return format(value, "f")


@dataclass(frozen=True, slots=True)
class Price:
    unit_price: Decimal
    price_unit: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_price: Price | None = None
    completion_price: Price | None = None
    latency: float = 0.0
    time_to_first_token: float | None = None
    time_to_generate: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_wire(self) -> dict[str, Any]:
        """The ``usage`` object, keys in the contract's order."""
        if self.prompt_price is None and self.completion_price is None:
            return self._unpriced()
        prompt_amount = _amount(self.prompt_tokens, self.prompt_price)
        completion_amount = _amount(self.completion_tokens, self.completion_price)
        priced = self.prompt_price is not None
        total = (prompt_amount + completion_amount).quantize(_SEVEN_PLACES, ROUND_HALF_UP)
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_unit_price": _unit(self.prompt_price),
            "prompt_price_unit": _price_unit(self.prompt_price),
            "prompt_price": decimal_str(prompt_amount) if priced else _NO_PRICE,
            "completion_tokens": self.completion_tokens,
            "completion_unit_price": _unit(self.completion_price),
            "completion_price_unit": _price_unit(self.completion_price),
            "completion_price": decimal_str(completion_amount) if priced else _NO_PRICE,
            "total_tokens": self.total_tokens,
            "total_price": decimal_str(total) if priced else _NO_PRICE,
            "currency": self.prompt_price.currency if self.prompt_price else "USD",
            "latency": round(self.latency, 6),
            "time_to_first_token": _seconds(self.time_to_first_token),
            "time_to_generate": _seconds(self.time_to_generate),
        }

    def _unpriced(self) -> dict[str, Any]:
        """``to_wire`` for a model without pricing (the usual case): no decimal arithmetic."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_unit_price": _NO_PRICE,
            "prompt_price_unit": _NO_PRICE,
            "prompt_price": _NO_PRICE,
            "completion_tokens": self.completion_tokens,
            "completion_unit_price": _NO_PRICE,
            "completion_price_unit": _NO_PRICE,
            "completion_price": _NO_PRICE,
            "total_tokens": self.total_tokens,
            "total_price": _NO_PRICE,
            "currency": "USD",
            "latency": round(self.latency, 6),
            "time_to_first_token": _seconds(self.time_to_first_token),
            "time_to_generate": _seconds(self.time_to_generate),
        }


def _amount(tokens: int, price: Price | None) -> Decimal:
    if price is None:
        return Decimal(0)
    return (Decimal(tokens) * price.unit_price * price.price_unit).quantize(_SEVEN_PLACES, ROUND_HALF_UP)


def _unit(price: Price | None) -> str:
    return decimal_str(price.unit_price) if price else _NO_PRICE


def _price_unit(price: Price | None) -> str:
    return decimal_str(price.price_unit) if price else _NO_PRICE


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four ASCII characters per token, one per other character.

    Used where the upstream reports no usage (a stopped stream, a model without usage)
    and to bound conversation memory.
    """
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)
