"""Query results as plain tuples, typed as such (peewee's stubs type `.tuples()` as models)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import peewee as pw


def tuples(query: pw.BaseQuery) -> Iterator[tuple[Any, ...]]:
    """Run the query and iterate its rows as tuples (peewee's `.tuples()`)."""
    rows: Iterable[tuple[Any, ...]] = query.tuples()
    return iter(rows)


def primary_key(model: type[pw.Model]) -> pw.Field:
    """The model's primary key field (every devtrack table has one, the automatic id)."""
    field = model._meta.primary_key
    if not isinstance(field, pw.Field):
        raise TypeError(f"{model.__name__} has no single-column primary key")
    return field
