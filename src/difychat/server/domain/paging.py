"""A page of a keyset-paginated list, as every ``limit``/``has_more`` list of the API shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Other = TypeVar("Other")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    data: list[Item]
    # Whether more items lie beyond this page, in the direction of the walk.
    has_more: bool
    # The page size asked for (the API echoes it).
    limit: int

    @classmethod
    def empty(cls, limit: int) -> Page[Item]:
        return cls([], False, limit)

    def map(self, convert: Callable[[Item], Other]) -> Page[Other]:
        return Page([convert(item) for item in self.data], self.has_more, self.limit)


@dataclass(frozen=True, slots=True)
class NumberedPage(Generic[Item]):
    """A page by number (offset paging), with the total that matches."""

    data: list[Item]
    total: int
    # The page number and page size the API echoes.
    page: int
    limit: int
