"""PostgreSQL pool: no liveness ping for a connection it has just had back; statements
prepared on the server.

peewee's pool sends `SELECT 1` every time it hands out an idle connection: on a busy bot that is
one round trip to the server per update, for a connection that answered a moment ago. Like
HikariCP's `aliveBypassWindowMs` (500 ms by default), a connection returned less than
`ALIVE_BYPASS_SECONDS` ago is handed out without the ping; an older one is pinged as before, and
one the driver knows is closed is always discarded. If the server dropped a connection that was
handed out unpinged (a restart), its first statement fails before doing anything: the pool then
drops its idle connections, connects afresh and sends that statement again, so the update goes
on as it did with the ping.

`execute_prepared` runs a hot statement as a server-side prepared statement, once per
connection: PostgreSQL otherwise plans it on every run (see the method).

A transaction's `BEGIN` travels with its first statement (`BEGIN; <statement>`, one round trip
instead of two); a transaction that sends nothing sends neither `BEGIN` nor `COMMIT`, and a raw
cursor asked for inside the transaction gets the `BEGIN` first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

from inventory.sql import DRIVER_ERRORS

logger = logging.getLogger(__name__)

ALIVE_BYPASS_SECONDS = 0.5
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1
BEGIN_WITH = "BEGIN; "  # how a transaction's first statement carries its BEGIN
NOT_PREPARED = "26000"  # invalid_sql_statement_name: no such prepared statement


class RecentlyUsedPool(PooledPostgresqlDatabase):
    """PooledPostgresqlDatabase without the ping for connections returned within the window."""

    def __init__(self, *args: Any, clock: Callable[[], float] = time.monotonic,
                 **kwargs: Any) -> None:
        self._clock = clock
        self._returned_at: dict[int, float] = {}
        self._unpinged = threading.local()  # the connection this thread got without the ping
        self._begin = threading.local()  # this thread's transaction has not sent BEGIN yet
        # The statements each open connection has prepared (a connection is used by one thread
        # at a time; a closed one drops out with its last reference).
        self._prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        # The texts of each statement and parameter types, built once (a dict read per run
        # instead of a hash of the whole statement).
        self._texts: dict[tuple[str, tuple[str, ...]], tuple[str, str, str]] = {}
        super().__init__(*args, **kwargs)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        """Check a connection in, noting when it came back."""
        with self._pool_lock:  # re-entrant: the pool's own _close takes it again
            super()._close(conn, close_conn)
            key = self.conn_key(conn)
            if any(idle is conn for _, _, idle in self._connections):
                self._returned_at[key] = self._clock()
            else:
                self._returned_at.pop(key, None)

    def _is_closed(self, conn: Any) -> bool:
        """Whether an idle connection is unusable; no round trip when it was just returned."""
        returned = self._returned_at.pop(self.conn_key(conn), None)
        if conn.closed:
            return True
        recent = returned is not None and self._clock() - returned < ALIVE_BYPASS_SECONDS
        if recent and self._adapter.txn_status(conn) == self._adapter.txn_idle:
            self._unpinged.conn = conn
            return False
        # The ping, or the rollback of a connection that is not idle: peewee's own check.
        return bool(super()._is_closed(conn))

    def begin(self, isolation_level: Any = None) -> None:
        """Start a transaction: its BEGIN goes out with its first statement."""
        if isolation_level is not None or self._isolation_level:
            super().begin(isolation_level)
            return
        self._begin.pending = True

    def _take_begin(self) -> bool:
        """Whether this thread's transaction still owes its BEGIN (it is sent now)."""
        pending = getattr(self._begin, "pending", False)
        self._begin.pending = False
        return pending

    def _begin_first(self) -> bool:
        """_take_begin for a statement: only inside the transaction (peewee ends one by popping
        it first, then COMMIT or ROLLBACK), so a BEGIN never outlives its transaction."""
        return self._take_begin() and self.in_transaction()

    def commit(self) -> None:
        """COMMIT, unless the transaction sent nothing (then there is nothing to end)."""
        if not self._take_begin():
            super().commit()

    def rollback(self) -> None:
        """ROLLBACK, unless the transaction sent nothing."""
        if not self._take_begin():
            super().rollback()

    def cursor(self, named_cursor: Any = None) -> Any:
        """A cursor; inside a transaction that has not begun on the server, BEGIN goes first
        (for code that executes on a cursor of its own, such as executemany)."""
        cursor = super().cursor(named_cursor)
        if self._begin_first():
            with DRIVER_ERRORS:
                cursor.execute("BEGIN")
        return cursor

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """Run a statement (with the transaction's BEGIN when it is the first); the first on an
        unpinged connection the server dropped runs again."""
        if self._begin_first():
            sql = BEGIN_WITH + sql
        unpinged, self._unpinged.conn = getattr(self._unpinged, "conn", None), None
        try:
            return super().execute_sql(sql, params)
        except (pw.OperationalError, pw.InterfaceError):
            conn = self._state.conn
            if unpinged is None or conn is not unpinged or not conn.closed or self.in_transaction():
                raise
        logger.warning("the database server closed idle connections; connecting again")
        self.close()
        self.close_idle()  # the server most likely dropped them all
        self.connect()
        return super().execute_sql(sql, params)

    def execute_prepared(self, sql: str, params: list[Any]) -> Any:
        """Run `sql` (%s placeholders) as a server-side prepared statement.

        PostgreSQL plans a statement on every run unless it is prepared: for the card and list
        queries (ten joined tables) planning took 2–3 ms against 0.3 ms of execution. A
        connection that has not prepared the statement yet gets PREPARE and EXECUTE in one
        round trip.
        """
        if any(type(v) is int and not INT8_MIN <= v <= INT8_MAX for v in params):
            return self.execute_sql(sql, params)  # no bigint holds it: a literal matches no row
        # An integer parameter is declared bigint: inferred from an int4 column it would refuse
        # 2^31 and beyond (a Telegram id), where a literal simply compared. The rest are
        # inferred. The name is the text's and the types' hash: the same on every connection.
        types = tuple("bigint" if type(v) is int else "unknown" for v in params)
        texts = self._texts.get((sql, types))
        if texts is None:
            texts = self._texts[(sql, types)] = statement_texts(sql, types)
        name, run, both = texts
        if name not in self._prepared.get(self.connection(), ()):
            cursor = self.execute_sql(both, params)
        else:
            try:
                cursor = self.execute_sql(run, params)
            except pw.DatabaseError as exc:
                # execute_sql sent it again on a new connection (the server had dropped the
                # old one), which has prepared nothing: outside a transaction, so send both.
                # peewee raises its own error while handling the driver's, which it chains.
                missing = getattr(exc.__context__, "pgcode", None) == NOT_PREPARED
                if (not missing or self.in_transaction()
                        or name in self._prepared.get(self.connection(), ())):
                    raise
                cursor = self.execute_sql(both, params)
        self._prepared.setdefault(self.connection(), set()).add(name)
        return cursor


def statement_texts(sql: str, types: tuple[str, ...]) -> tuple[str, str, str]:
    """The prepared statement's name, its EXECUTE, and PREPARE and EXECUTE in one text."""
    declared = ", ".join(types)
    name = "devtrack_" + hashlib.sha1(f"{declared}|{sql}".encode()).hexdigest()[:20]
    run = f"EXECUTE {name}({', '.join(['%s'] * len(types))})" if types else f"EXECUTE {name}"
    both = f"PREPARE {name}{f' ({declared})' if types else ''} AS {numbered(sql)}; {run}"
    return name, run, both


def numbered(sql: str) -> str:
    """psycopg2's %s placeholders as PostgreSQL's $1, $2… (a prepared statement's)."""
    parts = sql.split("%s")
    return "".join(part + (f"${i}" if i < len(parts) else "")
                   for i, part in enumerate(parts, start=1))
