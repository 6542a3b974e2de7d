"""Count every statement a database receives, at the driver: set-up pragmas, the pool's ping,
BEGIN and COMMIT included (peewee's execute_sql alone misses all of those)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

import peewee as pw

from pg_db import BEGIN_WITH

logger = logging.getLogger(__name__)

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - PostgreSQL support is optional in a dev venv
    psycopg2 = None


class StatementCounter:
    """Within `with`, connections opened by peewee count what they send (`count`, `log`).

    Connections opened before the block are not watched: close them first (the pool too).
    """

    def __init__(self) -> None:
        self.count = 0
        self.round_trips = 0  # executes: a BEGIN sent with its first statement is in one
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._patched: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.count = self.round_trips = 0
            self.log = []

    def seen(self, sql: str) -> None:
        """A statement was sent to the database (a transaction's BEGIN sent with its first
        statement, `BEGIN; …`, counts as a statement of its own: pg_db.RecentlyUsedPool)."""
        with self._lock:
            self.round_trips += 1
            if sql.startswith(BEGIN_WITH):
                self.count += 1
                self.log.append("BEGIN")
                sql = sql[len(BEGIN_WITH):]
            self.count += 1
            self.log.append(" ".join(sql.split())[:120])

    def __enter__(self) -> StatementCounter:
        original_sqlite = sqlite3.connect
        counter = self

        class SqliteCursor(sqlite3.Cursor):
            """A cursor that reports each statement it sends."""

            def execute(self, sql: str, parameters: Any = ()) -> Any:
                counter.seen(sql)
                return super().execute(sql, parameters)

        class SqliteConnection(sqlite3.Connection):
            """A connection whose cursors (and own execute) report what they send."""

            def cursor(self, factory: Any = SqliteCursor) -> Any:
                return super().cursor(factory)

            def execute(self, sql: str, parameters: Any = ()) -> Any:
                return self.cursor().execute(sql, parameters)

        def sqlite_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            kwargs.setdefault("factory", SqliteConnection)
            return original_sqlite(*args, **kwargs)

        self._patch(sqlite3, "connect", sqlite_connect)
        if psycopg2 is not None:

            class CountingCursor(psycopg2.extensions.cursor):
                """A psycopg2 cursor that reports each execute."""

                def execute(self, query: Any, vars: Any = None) -> Any:  # noqa: A002
                    counter.seen(query if isinstance(query, str) else str(query))
                    return super().execute(query, vars)

            original_pg = psycopg2.connect

            def pg_connect(*args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("cursor_factory", CountingCursor)
                return original_pg(*args, **kwargs)

            self._patch(psycopg2, "connect", pg_connect)
        return self

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._patched.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def __exit__(self, *exc: object) -> None:
        while self._patched:
            owner, name, value = self._patched.pop()
            setattr(owner, name, value)


def drop_connections(database: pw.Database) -> None:
    """Close the current connection and, for a pool, every idle one."""
    if not database.is_closed():
        database.close()
    close_all = getattr(database, "close_all", None)
    if close_all is not None:
        close_all()
