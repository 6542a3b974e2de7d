"""SQLite for a threaded bot: writers take turns in arrival order instead of failing or starving.

SQLite allows one writer at a time. Left to itself, a deferred transaction that reads and then
writes fails at once with "database is locked" when another connection holds the write lock
(the busy timeout cannot help a read lock that must be upgraded), and the busy handler's
back-off sleeps let a few threads starve for seconds under a burst. So every transaction begins
IMMEDIATE (the write lock comes before the first read), and the threads of this process queue for
it in a FIFO `TurnLock` instead of polling SQLite's busy handler. Other processes (the reminder
job) still meet the busy timeout, which is enough for their rare, short writes.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import peewee as pw
from playhouse.pool import PooledSqliteDatabase

logger = logging.getLogger(__name__)

READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class TurnLock:
    """A mutex that hands itself to waiters in the order they arrived (no starvation)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._busy = False

    def acquire(self, timeout: float = -1) -> bool:
        """Wait for our turn; False when timeout (seconds) ran out first."""
        with self._mutex:
            if not self._busy:
                self._busy = True
                return True
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        if gate.acquire(timeout=timeout):
            return True
        with self._mutex:
            try:
                self._waiters.remove(gate)
            except ValueError:
                # Handed to us just as the wait ran out: the turn is ours after all.
                return True
        return False

    def release(self) -> None:
        """Give the lock to the longest waiter, or free it."""
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._busy = False


class SerialSqliteDatabase(PooledSqliteDatabase):
    """SqliteDatabase whose writes (transactions and single statements) queue in-process.

    Connections are pooled: an update borrows an open one instead of opening the file and
    sending the pragmas again (three statements and a file open per update otherwise).
    The pool's `timeout` is its wait for a free connection; SQLite's own busy wait is the
    busy_timeout pragma.
    """

    def __init__(self, database: str, *args: Any, serialise: bool = True,
                 turn_timeout: float = 30.0, **kwargs: Any) -> None:
        kwargs.setdefault("lock_type", "IMMEDIATE")
        # A pooled connection serves one thread at a time, but not always the same one.
        kwargs.setdefault("check_same_thread", False)
        kwargs.setdefault("max_connections", 64)
        kwargs.setdefault("stale_timeout", 300)
        super().__init__(database, *args, **kwargs)
        self.serialise = serialise
        self.turn_timeout = turn_timeout
        self._turns = TurnLock()
        self._holder = threading.local()

    def _take_turn(self) -> None:
        """Wait for this thread's turn to write (raises like SQLite would after the timeout)."""
        if not self.serialise or getattr(self._holder, "turn", False):
            return
        if not self._turns.acquire(self.turn_timeout):
            raise pw.OperationalError("database is locked (waited for the writer turn)")
        self._holder.turn = True

    def _end_turn(self) -> None:
        """Let the next writer in (a no-op when this thread holds no turn)."""
        if getattr(self._holder, "turn", False):
            self._holder.turn = False
            self._turns.release()

    def begin(self, lock_type: str | None = None) -> None:
        """BEGIN IMMEDIATE once it is this thread's turn."""
        self._take_turn()
        try:
            super().begin(lock_type)
        except BaseException:
            self._end_turn()
            raise

    def commit(self) -> None:
        """COMMIT and pass the turn on (a failed COMMIT is rolled back by peewee)."""
        super().commit()
        self._end_turn()

    def rollback(self) -> None:
        """ROLLBACK and pass the turn on."""
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> bool:
        """Close the connection; a turn left by an unfinished transaction is given back."""
        try:
            return super().close()
        finally:
            if not self.in_transaction():
                self._end_turn()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """A write outside a transaction waits for its turn like a transaction does."""
        if (not self.serialise or self.in_transaction()
                or sql.lstrip().upper().startswith(READ_ONLY)):
            return super().execute_sql(sql, params)
        self._take_turn()
        try:
            return super().execute_sql(sql, params)
        finally:
            self._end_turn()
