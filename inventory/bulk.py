"""Bulk writes for imports: multi-row statements built directly (peewee's builder is too slow)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import peewee as pw

from inventory.rows import primary_key
from models import db

logger = logging.getLogger(__name__)

# Values in IN (...) lists and rows per progress step.
BATCH = 500
# Bound parameters per statement: SQLite allows 32,766.
MAX_PARAMS = 30_000
MAX_ROWS = 1000
# PostgreSQL casts of VALUES columns by peewee field type (text needs none).
PG_CASTS = {"DATE": "::date", "DATETIME": "::timestamp", "INT": "::integer", "BIGINT": "::bigint",
            "BOOL": "::boolean"}


def _converter(field: pw.Field) -> Callable[[Any], Any]:
    """field.db_value, with dates as ISO text: psycopg2 adapts datetime objects slowly."""
    if isinstance(field, pw.DateTimeField):
        return lambda v: v.isoformat(" ") if isinstance(v, datetime) else v
    if isinstance(field, pw.DateField):
        return lambda v: v.isoformat() if isinstance(v, date) else v
    return field.db_value


def _rows_per_statement(columns: int) -> int:
    """How many rows fit in one statement's parameters."""
    return max(1, min(MAX_ROWS, MAX_PARAMS // max(1, columns)))


def _is_postgres() -> bool:
    """Whether the models are bound to PostgreSQL."""
    return isinstance(db.obj, pw.PostgresqlDatabase)


def _with_defaults(model: type[pw.Model], columns: tuple[str, ...],
                   values: list[tuple[Any, ...]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Columns and rows extended by the left-out columns that have a constant model default."""
    extra = [field for field in model._meta.sorted_fields
             if field.name not in columns and not field.primary_key
             and field.default is not None and not callable(field.default)]
    if not extra:
        return columns, values
    return ((*columns, *(field.name for field in extra)),
            [(*row, *(field.default for field in extra)) for row in values])


def insert_rows(model: type[pw.Model], columns: tuple[str, ...],
                values: list[tuple[Any, ...]]) -> int:
    """Multi-row INSERTs of value tuples in `columns` order (inside the caller's transaction).

    Columns left out that have a constant model default get it, so a column added to the model
    later cannot break a caller that does not know about it.
    """
    columns, values = _with_defaults(model, columns, values)
    fields = [model._meta.fields[name] for name in columns]
    names = ", ".join(f'"{field.column_name}"' for field in fields)
    one = "(" + ", ".join([db.param] * len(fields)) + ")"
    converters = [_converter(field) for field in fields]
    for batch in pw.chunked(values, _rows_per_statement(len(fields))):
        sql = f'INSERT INTO "{model._meta.table_name}" ({names}) VALUES ' + ", ".join(
            [one] * len(batch))
        params = [convert(value) for row in batch
                  for convert, value in zip(converters, row, strict=True)]
        db.execute_sql(sql, params)
    return len(values)


def update_rows(model: type[pw.Model], columns: tuple[str, ...],
                values: list[tuple[Any, ...]]) -> int:
    """UPDATE many rows by primary key; each value tuple is (id, *new values in `columns`)."""
    if not values:
        return 0
    fields = [model._meta.fields[name] for name in columns]
    converters = [_converter(field) for field in fields]
    table = model._meta.table_name
    pk = primary_key(model).column_name
    rows = [(row[0], *(convert(value) for convert, value in zip(converters, row[1:],
                                                                   strict=True)))
            for row in values]
    # One UPDATE … FROM (VALUES …) per batch on both databases. PostgreSQL types a VALUES
    # column of bare literals (or of NULLs only) as text, so its typed columns get a cast;
    # SQLite converts by the column's affinity and knows no `::`.
    casts = PG_CASTS if _is_postgres() else {}
    sets = ", ".join(f'"{field.column_name}" = v.c{i}' + casts.get(field.field_type, "")
                     for i, field in enumerate(fields, 1))
    aliases = ", ".join(["id", *(f"c{i}" for i in range(1, len(fields) + 1))])
    one = "(" + ", ".join([db.param] * (len(fields) + 1)) + ")"
    for batch in pw.chunked(rows, _rows_per_statement(len(fields) + 1)):
        sql = (f"WITH v({aliases}) AS (VALUES " + ", ".join([one] * len(batch))
               + f') UPDATE "{table}" SET {sets} FROM v WHERE "{table}"."{pk}" = v.id')
        db.execute_sql(sql, [value for row in batch for value in row])
    return len(values)


def select_rows(query: pw.ModelSelect[Any]) -> list[tuple[Any, ...]]:
    """Raw result tuples of a query, without peewee's per-row conversion (dates may be text)."""
    sql, params = query.sql()
    return list(db.execute_sql(sql, params).fetchall())
