"""Hot queries compiled to SQL once per database: later runs only bind their values.

Building SQL is most of peewee's cost: in a profile of everyday screens more than half of an
update's CPU went into compiling the same few queries again. `Prepared(build)` compiles
`build(*placeholders)` once with unique placeholder values, remembers where each lands in the
parameter list, and afterwards executes the stored SQL with the real values, reading the rows
through the query's own cursor wrapper (joined models come back exactly as before). On
PostgreSQL the statement is also prepared on the server, once per connection
(`pg_db.RecentlyUsedPool.execute_prepared`): planning the joined card and list queries took the
server 2–3 ms a run, executing them 0.3 ms. Writes with RETURNING are prepared the same way:
compiling a take's INSERT of the loan took peewee half a millisecond.

Values are ints, texts, dates, datetimes or None, passed as the database receives them (ids,
not models): the compiled parameters take them as they are, without the fields' db_value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from datetime import date, datetime, timedelta
from typing import Any

import peewee as pw

from inventory.joined_rows import fast_process_row
from models import db

logger = logging.getLogger(__name__)

_EPOCH = datetime(1901, 2, 3, 4, 5, 6)

# What a peewee cursor wrapper holds about one cursor (peewee.CursorWrapper.__init__); the rest
# of its state, set up by initialize(), depends only on the query and its result's columns.
_PER_CURSOR = frozenset({"cursor", "count", "index", "initialized", "populated", "row_cache"})


def _placeholder(index: int, value: Any) -> Any:
    """A value of the same type as value that no real argument takes (None: none needed)."""
    if value is None:
        # A None compiles into the SQL as it is (NULL, IS NULL) under a key of its own: the
        # key holds every value's type, so only runs with None there reuse that SQL.
        return None
    if isinstance(value, datetime):
        return _EPOCH + timedelta(microseconds=7919 * (index + 1))
    if isinstance(value, date):
        return _EPOCH.date() - timedelta(days=index + 1)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(10**15) - 7919 * (index + 1)
    if isinstance(value, str):
        return f"\x00prepared {index}\x00"
    raise TypeError(
        f"Prepared queries take ints, texts, dates, datetimes and None, not {type(value).__name__}")


class Prepared:
    """A query built by `build(*values)`, compiled once per kind of database and shape."""

    def __init__(self, build: Callable[..., pw.Query], on_server: bool = True) -> None:
        self.build = build
        # False for a query whose best plan depends on its values (a page's OFFSET): a plan
        # prepared once would serve every value, and PostgreSQL may settle on a generic one.
        self.on_server = on_server
        self._compiled: dict[Hashable, tuple[pw.Query, str, list[Any], list[tuple[int, int]]]]
        self._compiled = {}
        self._mappings: dict[Hashable, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the compiled SQL and column mappings (the next run compiles afresh)."""
        with self._lock:
            self._compiled.clear()
            self._mappings.clear()

    def rows(self, *values: Any) -> list[Any]:
        """The query's rows for these values (models, with their joins; a write's RETURNING)."""
        database = db.obj
        # By the database's class, not its identity: SQL differs only by dialect, and an id()
        # can be reused by another database object once the first is gone (tests switch between
        # SQLite and PostgreSQL in one process).
        key = (type(database), tuple(type(v) for v in values))
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compile(database, values)
            with self._lock:
                self._compiled[key] = entry
        query, sql, template, slots = entry
        params = list(template)
        for position, index in slots:
            params[position] = values[index]
        cursor = execute(sql, params, on_server=self.on_server)
        # peewee has no public call that turns a cursor into the query's models (with their
        # joins); tests/test_query_counts.py and the card tests fail if this ever changes.
        wrapper = query._get_cursor_wrapper(cursor)  # type: ignore[attr-defined]
        # Matching the result's columns to the joined models (the wrapper's initialize) was
        # about a third of peewee's time under load, and the same SQL always has the same
        # columns: the first run's mapping serves the later ones (process_row only reads it).
        known = self._mappings.get(key)
        if known is not None:
            wrapper.__dict__.update(known)
            wrapper.initialized = True
        found = list(wrapper)
        if known is None and wrapper.initialized:
            mapping = {name: value for name, value in vars(wrapper).items()
                       if name not in _PER_CURSOR}
            fast = fast_process_row(wrapper)
            if fast is not None:
                mapping["process_row"] = fast  # an instance attribute wins over the method
            with self._lock:
                self._mappings[key] = mapping
        return found

    def _compile(self, database: pw.Database,
                 values: tuple[Any, ...]) -> tuple[pw.Query, str, list[Any], list[tuple[int, int]]]:
        """Build with placeholders and find where each lands among the parameters."""
        placeholders = [_placeholder(i, v) for i, v in enumerate(values)]
        query = self.build(*placeholders)
        sql, params = database.get_sql_context().sql(query).query()
        slots = []
        for position, param in enumerate(params):
            for index, placeholder in enumerate(placeholders):
                if (placeholder is not None and type(param) is type(placeholder)
                        and param == placeholder):
                    slots.append((position, index))
        wanted = sum(placeholder is not None for placeholder in placeholders)
        if len({index for _, index in slots}) != wanted:
            raise ValueError("a prepared query must use every one of its values as a parameter")
        return query, sql, list(params), slots


def execute(sql: str, params: list[Any], on_server: bool = True) -> Any:
    """Raw SQL on the bound database; on PostgreSQL (unless not on_server) prepared on the
    server once per connection, not planned on every run."""
    database = db.obj
    prepared = getattr(database, "execute_prepared", None)
    if prepared is None or not on_server:
        return database.execute_sql(sql, params)
    return prepared(sql, params)
