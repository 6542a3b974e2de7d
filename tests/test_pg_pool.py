"""The PostgreSQL pool pings an idle connection only when it was not used a moment ago."""

from __future__ import annotations

from collections.abc import Iterator

import peewee as pw
import psycopg2
import pytest
from conftest import PG_URL

from bench.statements import StatementCounter
from models import make_database
from pg_db import ALIVE_BYPASS_SECONDS, RecentlyUsedPool, numbered

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def pool() -> Iterator[tuple[RecentlyUsedPool, Ticks, StatementCounter]]:
    """A pool on the test database with a clock the test moves, counting what it sends."""
    ticks = Ticks()
    template = make_database(PG_URL)
    assert isinstance(template, RecentlyUsedPool)  # what the bot gets from its DATABASE_URL
    database = RecentlyUsedPool(template.database, clock=ticks, **template.connect_params,
                                max_connections=4)
    with StatementCounter() as counter:
        yield database, ticks, counter
    database.close_all()


def checkout(database: RecentlyUsedPool, counter: StatementCounter) -> list[str]:
    """Take a connection from the pool, run one query, give it back; what the server got."""
    counter.reset()
    database.connect()
    database.execute_sql("SELECT 2")
    database.close()
    return counter.log


def test_a_connection_returned_within_the_window_is_handed_out_without_a_ping(pool):
    database, ticks, counter = pool
    checkout(database, counter)  # a new connection: nothing to ping
    ticks.value += ALIVE_BYPASS_SECONDS * 0.9
    assert checkout(database, counter) == ["SELECT 2"]


def test_an_older_idle_connection_is_pinged_first(pool):
    database, ticks, counter = pool
    checkout(database, counter)
    ticks.value += ALIVE_BYPASS_SECONDS
    assert checkout(database, counter) == ["SELECT 1", "SELECT 2"]
    # The check-in just now restarts the window.
    assert checkout(database, counter) == ["SELECT 2"]


def test_a_connection_the_driver_knows_is_closed_is_replaced(pool):
    database, _, counter = pool
    checkout(database, counter)
    first = database._connections[0][2]
    first.close()  # e.g. the server ended it and the driver noticed
    assert checkout(database, counter) == ["SELECT 2"]
    assert database._connections[0][2] is not first
    assert first.closed


def test_a_connection_left_in_a_transaction_is_rolled_back_before_reuse(pool):
    database, _, counter = pool
    database.connect()
    conn = database.connection()
    database.close()
    cursor = conn.cursor()
    cursor.execute("BEGIN")
    cursor.execute("CREATE TEMP TABLE left_behind (x int)")
    assert checkout(database, counter) == ["ROLLBACK", "SELECT 2"]
    assert database._connections[0][2] is conn
    cursor.execute("SELECT to_regclass('pg_temp.left_behind')")
    assert cursor.fetchone() == (None,)  # rolled back, not committed


def terminate(pid: int) -> None:
    """End a server process, as a server restart does."""
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


def test_a_connection_the_server_dropped_is_replaced_and_the_statement_sent_again(pool, caplog):
    database, _, counter = pool
    checkout(database, counter)
    old = database._connections[0][2]
    terminate(old.get_backend_pid())
    # Sent on the dead connection (it fails there), then again on a new one.
    assert checkout(database, counter) == ["SELECT 2", "SELECT 2"]
    assert old.closed
    assert [conn for _, _, conn in database._connections] != [old]
    assert "connecting again" in caplog.text


def test_only_the_first_statement_after_an_unpinged_checkout_is_sent_again(pool):
    database, _, counter = pool
    checkout(database, counter)
    database.connect()
    database.execute_sql("SELECT 2")
    terminate(database.connection().get_backend_pid())
    with pytest.raises(pw.OperationalError):
        database.execute_sql("SELECT 3")  # what the update did before may be lost: no retry
    database.close()


def prepared(database: RecentlyUsedPool, counter: StatementCounter, value: int) -> tuple:
    """Run one server-side prepared statement on a checked-out connection: (rows, sent)."""
    counter.reset()
    database.connect()
    rows = database.execute_prepared("devtrack_test_add", "SELECT %s::int + 1", [value]).fetchall()
    database.close()
    return rows, [" ".join(sql.split()) for sql in counter.log]


def test_a_statement_is_prepared_once_per_connection(pool):
    database, ticks, counter = pool
    first = prepared(database, counter, 41)
    assert first == ([(42,)], ["PREPARE devtrack_test_add AS SELECT $1::int + 1; EXECUTE "
                               "devtrack_test_add(%s)"])
    ticks.value += ALIVE_BYPASS_SECONDS * 0.5
    assert prepared(database, counter, 1) == ([(2,)], ["EXECUTE devtrack_test_add(%s)"])
    other = RecentlyUsedPool(database.database, **database.connect_params, max_connections=1)
    try:  # another pool's connection has prepared nothing
        other.connect()
        assert other.execute_prepared("devtrack_test_add", "SELECT %s::int + 1",
                                      [5]).fetchall() == [(6,)]
    finally:
        other.close_all()


def test_a_prepared_statement_survives_the_server_dropping_its_connection(pool, caplog):
    database, ticks, counter = pool
    prepared(database, counter, 1)
    terminate(database._connections[0][2].get_backend_pid())
    ticks.value += ALIVE_BYPASS_SECONDS * 0.5  # handed out unpinged: the first send fails
    rows, sent = prepared(database, counter, 9)
    assert rows == [(10,)] and "connecting again" in caplog.text
    assert sent == ["EXECUTE devtrack_test_add(%s)", "EXECUTE devtrack_test_add(%s)",
                    "PREPARE devtrack_test_add AS SELECT $1::int + 1; EXECUTE "
                    "devtrack_test_add(%s)"]
    assert prepared(database, counter, 2) == ([(3,)], ["EXECUTE devtrack_test_add(%s)"])


def test_an_integer_beyond_32_bits_goes_unprepared(pool):
    database, _, counter = pool
    counter.reset()
    database.connect()
    sql = "SELECT count(*) FROM pg_class WHERE oid::int = %s"
    for value in (2**31, -(2**31) - 1, 10**20):
        assert database.execute_prepared("devtrack_test_big", sql, [value]).fetchone() == (0,)
    assert database.execute_prepared("devtrack_test_big", sql, [2**31 - 1]).fetchone() == (0,)
    database.close()
    assert counter.log[:3] == [sql] * 3 and counter.log[3].startswith("PREPARE devtrack_test_big")


def test_placeholders_are_numbered_in_order():
    assert numbered("SELECT %s, %s FROM t WHERE a = %s") == "SELECT $1, $2 FROM t WHERE a = $3"
    assert numbered("SELECT 1") == "SELECT 1"
