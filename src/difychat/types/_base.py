"""The base model and the lenient value types shared by every response model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

__all__ = ["DifyModel", "Price", "Timestamp"]


class DifyModel(BaseModel):
    """Base of every response model.

    Unknown fields are kept (``model.model_extra``, or attribute access) rather than rejected,
    so a newer server never breaks an older client. Missing optional fields default to ``None``.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


def _as_utc(value: datetime) -> datetime:
    # /app/feedbacks sends naive ISO strings that are UTC; everything else sends epoch seconds.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
"""A point in time, always timezone-aware UTC.

Dify sends integer Unix seconds almost everywhere, and naive ISO-8601 strings (UTC) in
``/app/feedbacks``; both become the same ``datetime``."""


def _to_decimal(value: Any) -> Any:
    # Prices are decimal strings ("0.0000120"), sometimes in exponent form ("0E-7") on the
    # streaming path; a float would lose digits, so everything goes through str -> Decimal.
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            return value
    return value


Price = Annotated[Decimal, BeforeValidator(_to_decimal)]
"""A money amount as ``Decimal`` (``"0E-7"`` and ``"0.0000000"`` both read as zero)."""
